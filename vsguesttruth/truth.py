"""The truth: what backs every virtual disk, what state it is really in, and what the guest should do.

Pure functions over a ``model.Inventory``: no I/O, no pyVmomi. Each disk is followed down its chain
(disk -> datastores of its snapshot chain -> VMFS extents -> LUNs -> paths on the VM's host and on every
other host that sees the LUN, plus per-host mount accessibility) and classified with vSphere semantics
into one ``Verdict``, a one-line explanation and structured evidence.

Rules, per LUN, judged from the VM's current host (ALUA standby paths are working paths):
- the host is missing, disconnected or not responding -> ``unknown`` (its data is stale);
- the LUN is permanently lost here (operational state error/off/lostCommunication, PDL) -> ``media_failure``;
- no working path here: another connected host has one -> ``connectivity_lost`` (move the VM); none has
  -> ``all_paths_down`` (APD), or ``media_failure`` when a host reports the LUN permanently lost;
- some paths dead/disabled/unknown (or the LUN is degraded/quiesced/timeout) but one works -> ``degraded``
  (which outranks ``below_sla``: the explanation then adds what the service level wants);
- fewer working paths than the service level asks -> ``below_sla``; else ``healthy``.
Per datastore, mounts add their own evidence (and are the only evidence for NFS, vSAN and friends):
PDL -> ``media_failure``; inaccessible here but accessible on another connected host ->
``connectivity_lost``; accessible nowhere (AllPathsDown_Start/_Timeout) -> ``all_paths_down``.
A local LUN (``Lun.local``) is never "reached" by another host, even if its canonical name (``mpx.*``)
repeats there. A disk takes the worst verdict of its datastores (VMDK) or of its LUN (RDM: I/O bypasses
the mapping file's datastore; only a virtual-mode RDM's snapshot deltas add their datastores).
A disk we cannot map (datastore not in the inventory, RDM LUN seen by no host) is ``unknown``.

Build a ``TruthContext`` once per inventory when asking several questions; the module functions do
that for one question.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from functools import cache
from typing import Any, ClassVar, Iterable, Mapping, NamedTuple

from vsguesttruth.gcpause import paused as gc_paused
from vsguesttruth.model import Datastore, Disk, Hba, Host, Inventory, Lun, Mount, Path, PathState, Vm
from vsguesttruth.policy import ServiceLevel

DiskId = tuple[str, int]  # (vm moref, disk device key)

_DEFAULT_LEVEL = ServiceLevel()
_STATES = tuple(s.value for s in PathState)
_WORKING = frozenset(s for s in PathState if s.working)
_PDL = "PermanentDeviceLoss"
# Mount reasons of an APD: the device's operational state (error after the APD timeout, per the vSphere
# Storage guide's "Dead or Error") is then no evidence of a lost device.
_APD_REASONS = frozenset({"AllPathsDown_Start", "AllPathsDown_Timeout"})
# ScsiLun.operationalState values that impair I/O without losing the LUN (error/off/lostCommunication are
# Lun.permanently_lost; unknownState, or none reported, says nothing and leaves the paths to decide).
_IMPAIRED = frozenset({"degraded", "quiesced", "timeout"})
_NAMES_SHOWN = 3  # hosts named in an explanation before "and N more"


class Advice(str, Enum):
    """What the guest (or the planner) should do about a verdict."""

    NONE = "none"
    KEEP_USING = "keep_using"  # redundancy lost, I/O continues
    WAIT = "wait"  # APD: retry, do not treat as a media error
    MOVE_HOST = "move_host"  # vMotion to a host whose paths work
    FAIL_OVER = "fail_over"  # to the replica of the failed storage
    MOVE = "move"  # to where the service level holds


class Verdict(str, Enum):
    """A disk's state. Ordered by severity, so ``max()`` of several verdicts is the worst one.

    ``unknown`` ranks just above ``healthy``: a disk we cannot fully see is never called healthy, but any
    known problem says more than "unknown" (one LUN unknown and another ``media_failure`` ->
    ``media_failure``).
    """

    HEALTHY = "healthy"
    UNKNOWN = "unknown"
    BELOW_SLA = "below_sla"
    DEGRADED = "degraded"
    CONNECTIVITY_LOST = "connectivity_lost"
    ALL_PATHS_DOWN = "all_paths_down"
    MEDIA_FAILURE = "media_failure"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def advice(self) -> Advice:
        return _ADVICE[self]

    @property
    def usable(self) -> bool:
        """Whether I/O to the disk flows from its current host."""
        return self in (Verdict.HEALTHY, Verdict.BELOW_SLA, Verdict.DEGRADED)

    @staticmethod
    def worst(verdicts: Iterable["Verdict"]) -> "Verdict":
        """The most severe verdict; ``healthy`` for none."""
        return max(verdicts, default=Verdict.HEALTHY)

    # str's comparisons would order alphabetically; verdicts order by severity.
    def __lt__(self, other: object) -> bool:
        return _SEVERITY[self] < _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented

    def __le__(self, other: object) -> bool:
        return _SEVERITY[self] <= _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return _SEVERITY[self] > _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return _SEVERITY[self] >= _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented


_SEVERITY = {v: i for i, v in enumerate(Verdict)}
_ADVICE = {
    Verdict.HEALTHY: Advice.NONE,
    Verdict.UNKNOWN: Advice.NONE,
    Verdict.BELOW_SLA: Advice.MOVE,
    Verdict.DEGRADED: Advice.KEEP_USING,
    Verdict.CONNECTIVITY_LOST: Advice.MOVE_HOST,
    Verdict.ALL_PATHS_DOWN: Advice.WAIT,
    Verdict.MEDIA_FAILURE: Advice.FAIL_OVER,
}


# ---------------------------------------------------------------------------------------------------
# JSON


def to_json(obj: Any, evidence: bool = True) -> Any:
    """Plain dicts/lists/str/int/bool/None for any truth object (what ``--json`` prints).

    ``evidence=False`` keeps, of the per-host evidence of a LUN or datastore, only the host it was judged
    from: every host that sees a LUN can be 2,000 hosts x 4 paths, too much for a listing of all disks.
    """
    if isinstance(obj, Enum):
        return obj.value
    if is_dataclass(obj) and not isinstance(obj, type):
        per_host = () if evidence else getattr(obj, "_per_host_fields", ())
        out = {}
        for name in _field_names(type(obj)):
            value = getattr(obj, name)
            if name in per_host:
                value = [item for item in value if item.host == getattr(obj, "host")]
            out[name] = to_json(value, evidence)
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_json(v, evidence) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [to_json(v, evidence) for v in obj]
    return obj


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls)) + getattr(cls, "_json_properties", ())


class _Json:
    __slots__ = ()

    def as_dict(self, evidence: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = to_json(self, evidence)
        return out


# ---------------------------------------------------------------------------------------------------
# Evidence and results


@dataclass(frozen=True, slots=True)
class HostPaths(_Json):
    """What one host sees of one LUN: its paths, and its mount of the LUN's datastore."""

    host: str  # host name
    host_moref: str
    connected: bool
    present: bool  # the host lists the LUN among its SCSI LUNs
    operational_state: tuple[str, ...]
    permanently_lost: bool
    paths: tuple[Path, ...]
    working: int  # active + standby
    mount_accessible: bool | None  # None: the LUN backs no datastore, or the host has no mount of it
    mount_reason: str

    _json_properties: ClassVar[tuple[str, ...]] = ("counts", "total")

    @property
    def counts(self) -> dict[str, int]:
        """Every path state -> number of paths in it (computed: most evidence is never looked at)."""
        return _count_states(self.paths)

    @property
    def total(self) -> int:
        return len(self.paths)


@dataclass(frozen=True, slots=True)
class MountState(_Json):
    """One host's mount of a datastore."""

    host: str
    host_moref: str
    connected: bool
    mounted: bool
    accessible: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LunTruth(_Json):
    """One LUN judged from one host (the VM's current host)."""

    canonical_name: str
    host: str  # the host judged from
    datastore: str  # name of the datastore it is an extent of; "" for an RDM-only LUN
    verdict: Verdict
    explanation: str
    sla_met: bool  # enough working paths here for the service level
    display_name: str
    media: str
    lun_type: str
    vaai: str
    local: bool
    hosts: tuple[HostPaths, ...]  # every host that sees the LUN (the judged host included), by name

    _per_host_fields: ClassVar[tuple[str, ...]] = ("hosts",)


@dataclass(frozen=True, slots=True)
class DatastoreTruth(_Json):
    """One datastore of a disk's chain, judged from one host: its mounts, and its extents' verdicts."""

    moref: str
    name: str
    kind: str
    host: str
    verdict: Verdict
    explanation: str
    extents: tuple[str, ...]
    remote: str
    mounts: tuple[MountState, ...]  # every host's mount, by host name

    _per_host_fields: ClassVar[tuple[str, ...]] = ("mounts",)


@dataclass(frozen=True, slots=True)
class DiskTruth(_Json):
    """The truth about one virtual disk: the verdict, why, and the evidence."""

    vm: str  # vm moref
    vm_name: str
    host: str  # host name ("" when unknown)
    host_moref: str
    disk: Disk  # as modeled: key, label, controller, bus, unit, backing, uuid, files, datastores, lun_uuid...
    verdict: Verdict
    explanation: str
    sla_met: bool  # usable and within the service level; False when it cannot be confirmed
    datastores: tuple[DatastoreTruth, ...]  # VMDK: the chain's datastores, in chain order
    luns: tuple[LunTruth, ...]  # every LUN behind the disk (VMFS extents, or the RDM LUN)

    _json_properties: ClassVar[tuple[str, ...]] = ("advice",)

    @property
    def advice(self) -> Advice:
        return self.verdict.advice

    @property
    def key(self) -> int:
        return self.disk.key

    @property
    def label(self) -> str:
        return self.disk.label

    @property
    def id(self) -> DiskId:
        return (self.vm, self.disk.key)


@dataclass(frozen=True, slots=True)
class VmTruth(_Json):
    """A VM's identity, where it runs, and the truth of each of its disks."""

    vm: str
    name: str
    uuid: str
    power_state: str
    host: str
    host_moref: str
    cluster: str
    verdict: Verdict  # worst of its disks (and below_sla when too few disks are usable)
    explanation: str
    sla_met: bool
    disks: tuple[DiskTruth, ...]

    _json_properties: ClassVar[tuple[str, ...]] = ("advice",)

    @property
    def advice(self) -> Advice:
        return self.verdict.advice


@dataclass(frozen=True, slots=True)
class HbaSummary(_Json):
    device: str
    kind: str
    status: str
    online: bool
    model: str
    wwpn: str
    counts: Mapping[str, int]
    working: int
    total: int


@dataclass(frozen=True, slots=True)
class HostLun(_Json):
    """One LUN as a host's storage admin sees it: verdict, and paths by state and by HBA."""

    canonical_name: str
    display_name: str
    datastore: str
    verdict: Verdict
    explanation: str
    media: str
    lun_type: str
    vaai: str
    operational_state: tuple[str, ...]
    local: bool
    counts: Mapping[str, int]
    working: int
    total: int
    by_hba: Mapping[str, Mapping[str, int]]  # hba device -> path state -> count
    paths: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class HostSummary(_Json):
    """The storage admin's view of one host: "2/2 HBAs online, 10/10 LUNs ok, 31/32 paths working"."""

    moref: str
    name: str
    cluster: str
    connection_state: str
    maintenance: bool
    line: str
    verdict: Verdict  # worst of its LUNs
    hbas_online: int  # counted over HBAs that carry paths, or are offline (idle IDE/USB adapters are noise)
    hbas_total: int
    luns_ok: int
    luns_total: int
    paths_working: int
    paths_total: int
    hbas: tuple[HbaSummary, ...]  # every HBA
    luns: tuple[HostLun, ...]


@dataclass(frozen=True, slots=True)
class VerdictChange(_Json):
    """A disk whose verdict changed between two truths; ``None`` when the disk (dis)appeared."""

    vm: str
    vm_name: str
    key: int
    label: str
    host: str
    old: Verdict | None
    new: Verdict | None
    explanation: str  # the new explanation, or the old one when the disk is gone

    @property
    def id(self) -> DiskId:
        return (self.vm, self.key)


# ---------------------------------------------------------------------------------------------------
# The context: indexes built once per inventory, results cached per (host, thing, level)


@dataclass(frozen=True, slots=True)
class _LunFacts:
    """Host-independent facts about a shared LUN."""

    hosts: tuple[HostPaths, ...]  # hosts that see it as a shared LUN, by name
    reachers: tuple[HostPaths, ...]  # connected, not lost, >= 1 working path
    lost_on: tuple[HostPaths, ...]  # connected and reporting it permanently lost


@dataclass(frozen=True, slots=True)
class _DsFacts:
    mounts: tuple[MountState, ...]
    by_host: Mapping[str, Mount]
    accessible_on: tuple[MountState, ...]  # connected hosts with an accessible mount
    pdl_on: tuple[MountState, ...]  # connected hosts reporting PermanentDeviceLoss


class _Backing(NamedTuple):
    """A judged backing (datastore chain or RDM LUN) from one host: what disks sharing it share."""

    verdict: Verdict
    explanation: str
    sla_met: bool
    datastores: tuple[DatastoreTruth, ...]
    luns: tuple[LunTruth, ...]


class _Cache:
    """Judgements for one service level, keyed by (host moref, LUN / datastore / backing)."""

    __slots__ = ("level", "luns", "datastores", "backings")

    def __init__(self, level: ServiceLevel) -> None:
        self.level = level
        self.luns: dict[tuple[str, str], LunTruth] = {}
        self.datastores: dict[tuple[str, str], DatastoreTruth] = {}
        self.backings: dict[tuple[Any, ...], _Backing] = {}


class _PerHost(dict):
    """host moref -> an index of that host, built on first access (KeyError for an unknown host)."""

    __slots__ = ("_hosts", "_build")

    def __init__(self, hosts: Mapping[str, Host], build: Any) -> None:
        super().__init__()
        self._hosts = hosts
        self._build = build

    def __missing__(self, moref: str) -> Any:
        value = self[moref] = self._build(self._hosts[moref])
        return value


def _paths_by_lun(host: Host) -> dict[str, list[Path]]:
    by_lun: dict[str, list[Path]] = defaultdict(list)
    for path in host.paths:
        by_lun[path.lun].append(path)
    return by_lun


def _luns_by_name(host: Host) -> dict[str, Lun]:
    return {lun.canonical_name: lun for lun in host.luns}


class TruthContext:
    """One inventory, indexed once, so each disk costs a few dict lookups instead of a scan of all hosts."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        # Per-host indexes are built on first use: a question about one VM looks at a few hosts' paths,
        # and indexing every path of 2,000 hosts up front would cost more than the answer.
        hosts = {host.moref: host for host in inv.hosts.values()}
        self._paths: Mapping[str, dict[str, list[Path]]] = _PerHost(hosts, _paths_by_lun)  # host -> lun -> paths
        self._luns: Mapping[str, dict[str, Lun]] = _PerHost(hosts, _luns_by_name)  # host moref -> lun -> Lun
        self._seen_by: dict[str, list[str]] = defaultdict(list)  # lun -> host morefs
        self._any_lun: dict[str, Lun] = {}  # lun -> some host's view of it (for media, vaai, ...)
        self._by_uuid: dict[str, str] = {}  # ScsiLun.uuid -> canonical name
        any_lun, by_uuid, seen_by = self._any_lun, self._by_uuid, self._seen_by
        for host in hosts.values():
            names = set()
            for lun in host.luns:
                name = lun.canonical_name
                names.add(name)
                if name not in any_lun:
                    any_lun[name] = lun
                if lun.uuid and lun.uuid not in by_uuid:
                    by_uuid[lun.uuid] = name
            names.update({path.lun for path in host.paths})
            for name in names:
                seen_by[name].append(host.moref)
        self._lun_ds: dict[str, list[Datastore]] = defaultdict(list)  # lun -> datastores it is an extent of
        for ds in inv.datastores.values():
            for name in ds.extents:
                self._lun_ds[name].append(ds)
        self._host_paths: dict[tuple[str, str], HostPaths] = {}
        self._lun_facts: dict[str, _LunFacts] = {}
        self._ds_facts: dict[str, _DsFacts] = {}
        self._caches: dict[ServiceLevel, _Cache] = {}

    # -- public questions ---------------------------------------------------------------------------

    def disk_truths(self, level: ServiceLevel | None = None) -> tuple[DiskTruth, ...]:
        """Every disk of every VM, VMs in inventory order, disks in device order."""
        cache = self._cache(level)
        with gc_paused():
            return tuple(d for vm in self.inv.vms.values() for d in self._vm_disks(vm, cache))

    def vm_truths(self, level: ServiceLevel | None = None) -> tuple[VmTruth, ...]:
        with gc_paused():
            return tuple(self.vm_truth(moref, level) for moref in self.inv.vms)

    def vm_truth(self, vm_moref: str, level: ServiceLevel | None = None) -> VmTruth:
        vm = self.inv.vms.get(vm_moref)
        if vm is None:
            raise KeyError(f"no VM {vm_moref!r} in the inventory")
        cache = self._cache(level)
        disks = self._vm_disks(vm, cache)
        host = self.inv.hosts.get(vm.host)
        verdict, explanation = _vm_verdict(host, disks, cache.level)
        sla_met = verdict.usable and all(d.sla_met for d in disks) and verdict is not Verdict.BELOW_SLA
        return VmTruth(
            vm=vm.moref, name=vm.name, uuid=vm.uuid, power_state=vm.power_state,
            host=host.name if host else "", host_moref=vm.host, cluster=host.cluster if host else "",
            verdict=verdict, explanation=explanation, sla_met=sla_met, disks=disks,
        )

    def host_summary(self, host_moref: str) -> HostSummary:
        host = self.inv.hosts.get(host_moref)
        if host is None:
            raise KeyError(f"no host {host_moref!r} in the inventory")
        names = sorted(self._luns[host.moref].keys() | self._paths[host.moref].keys())
        luns = tuple(self._host_lun(host, name) for name in names)
        hbas = tuple(_hba_summary(hba, host.paths) for hba in host.hbas)
        counted = [h for h in hbas if h.total or h.status.lower() == "offline"]
        working = sum(1 for p in host.paths if p.state.working)
        online = sum(1 for h in counted if h.online)
        # "ok" as storage admins count it: the LUN is there and I/O flows (lost redundancy still counts)
        ok = sum(1 for lun in luns if lun.verdict in (Verdict.HEALTHY, Verdict.DEGRADED, Verdict.BELOW_SLA))
        line = (f"{online}/{len(counted)} HBAs online, {ok}/{len(luns)} LUNs ok, "
                f"{working}/{len(host.paths)} paths working")
        if not host.connected:
            line = (f"{host.connection_state}: no current data; last known {online}/{len(counted)} HBAs online, "
                    f"{working}/{len(host.paths)} paths working, {len(luns)} LUNs")
        return HostSummary(
            moref=host.moref, name=host.name, cluster=host.cluster, connection_state=host.connection_state,
            maintenance=host.maintenance, line=line,
            verdict=Verdict.UNKNOWN if not host.connected else Verdict.worst(lun.verdict for lun in luns),
            hbas_online=online, hbas_total=len(counted), luns_ok=ok, luns_total=len(luns),
            paths_working=working, paths_total=len(host.paths), hbas=hbas, luns=luns,
        )

    def lun_truth(self, host_moref: str, canonical_name: str, level: ServiceLevel | None = None) -> LunTruth:
        """One LUN judged from one host."""
        return self._lun(self._cache(level), host_moref, canonical_name)

    def datastore_truth(self, host_moref: str, ds: Datastore, level: ServiceLevel | None = None) -> DatastoreTruth:
        """One datastore judged from one host: its mount and its extents."""
        return self._datastore(self._cache(level), host_moref, ds)

    def rdm_lun(self, disk: Disk) -> str | None:
        """The canonical name of an RDM's LUN: by ``lun_uuid``, else from its device path."""
        if disk.lun_uuid and disk.lun_uuid in self._by_uuid:
            return self._by_uuid[disk.lun_uuid]
        name = disk.device_name.rsplit("/", 1)[-1]
        return name if name and name in self._seen_by else None

    # -- caching ------------------------------------------------------------------------------------

    def _cache(self, level: ServiceLevel | None) -> _Cache:
        level = level or _DEFAULT_LEVEL
        found = self._caches.get(level)
        if found is None:
            found = self._caches[level] = _Cache(level)
        return found

    def _lun(self, cache: _Cache, host_moref: str, name: str) -> LunTruth:
        found = cache.luns.get((host_moref, name))
        if found is None:
            found = cache.luns[host_moref, name] = self._judge_lun(host_moref, name, cache.level)
        return found

    def _datastore(self, cache: _Cache, host_moref: str, ds: Datastore) -> DatastoreTruth:
        found = cache.datastores.get((host_moref, ds.moref))
        if found is None:
            found = cache.datastores[host_moref, ds.moref] = self._judge_datastore(cache, host_moref, ds)
        return found

    # -- disks --------------------------------------------------------------------------------------

    def _vm_disks(self, vm: Vm, cache: _Cache) -> tuple[DiskTruth, ...]:
        host = self.inv.hosts.get(vm.host)
        host_name = host.name if host else ""
        out = []
        for disk in vm.disks:
            # Disks on the same host with the same backing share one judgement.
            key = (vm.host, disk.backing, disk.datastores, disk.lun_uuid, disk.device_name)
            backing = cache.backings.get(key)
            if backing is None:
                backing = cache.backings[key] = self._backing(cache, vm.host, disk)
            out.append(DiskTruth(
                vm=vm.moref, vm_name=vm.name, host=host_name, host_moref=vm.host, disk=disk,
                verdict=backing.verdict, explanation=backing.explanation, sla_met=backing.sla_met,
                datastores=backing.datastores, luns=backing.luns,
            ))
        return tuple(out)

    def _backing(self, cache: _Cache, host_moref: str, disk: Disk) -> _Backing:
        """Follow a disk's backing down to datastores and LUNs, and judge it."""
        datastores: list[DatastoreTruth] = []
        luns: dict[str, LunTruth] = {}
        parts: list[tuple[Verdict, str]] = []
        chain: tuple[str, ...] = ()
        if disk.backing.startswith("rdm"):
            name = self.rdm_lun(disk)
            if name is None:
                parts.append((Verdict.UNKNOWN, f"RDM LUN {disk.lun_uuid or disk.device_name or '?'} "
                                               "is not seen by any host"))
            else:
                lun = luns[name] = self._lun(cache, host_moref, name)
                parts.append((lun.verdict, lun.explanation))
            chain = self._snapshot_datastores(disk)
        elif disk.backing == "vmdk" and disk.datastores:
            chain = disk.datastores
        else:
            parts.append((Verdict.UNKNOWN, f"{disk.backing} backing is not mapped to storage"))
        for moref in chain:
            ds = self.inv.datastores.get(moref)
            if ds is None:
                parts.append((Verdict.UNKNOWN, f"datastore {moref} is not in the inventory"))
                continue
            dt = self._datastore(cache, host_moref, ds)
            datastores.append(dt)
            parts.append((dt.verdict, dt.explanation))
            for name in ds.extents:
                if name not in luns:
                    luns[name] = self._lun(cache, host_moref, name)
        verdict, explanation = _summarize(parts)
        if verdict is Verdict.HEALTHY and len(luns) > 1:  # one short line, not one clause per LUN
            here = [h for lun in luns.values() for h in lun.hosts if h.host_moref == host_moref]
            explanation = (f"all {sum(h.total for h in here)} paths to {len(luns)} LUNs working on "
                           f"{here[0].host if here else '?'}")
        sla_met = verdict.usable and all(lun.sla_met for lun in luns.values())
        return _Backing(verdict, explanation, sla_met, tuple(datastores), tuple(luns.values()))

    def _snapshot_datastores(self, disk: Disk) -> tuple[str, ...]:
        """An RDM's I/O goes to its LUN, not to the mapping file's datastore; but a virtual-mode RDM with
        snapshots writes to delta disks (every file but the last, the mapping file), so their datastores count."""
        names = {f[1:f.index("]")] for f in disk.files[:-1] if f.startswith("[") and "]" in f}
        return tuple(m for m in disk.datastores if m in self.inv.datastores and self.inv.datastores[m].name in names)

    # -- LUNs ---------------------------------------------------------------------------------------

    def _paths_of(self, host_moref: str, name: str) -> HostPaths:
        key = (host_moref, name)
        found = self._host_paths.get(key)
        if found is not None:
            return found
        host = self.inv.hosts[host_moref]
        lun = self._luns[host_moref].get(name)
        paths = tuple(self._paths[host_moref].get(name, ()))
        ds = self._datastore_of(name, host_moref)
        mount = self._ds(ds).by_host.get(host_moref) if ds else None
        in_apd = bool(mount) and mount.inaccessible_reason in _APD_REASONS
        found = self._host_paths[key] = HostPaths(
            host=host.name, host_moref=host.moref, connected=host.connected, present=lun is not None,
            operational_state=lun.operational_state if lun else (),
            permanently_lost=bool(lun and lun.permanently_lost) and not in_apd,
            paths=paths, working=sum(p.state in _WORKING for p in paths),
            mount_accessible=(mount.mounted and mount.accessible) if mount else None,
            mount_reason=mount.inaccessible_reason if mount else "",
        )
        return found

    def _facts(self, name: str) -> _LunFacts:
        found = self._lun_facts.get(name)
        if found is None:
            shared = [m for m in self._seen_by.get(name, ()) if not _is_local(self._luns[m].get(name))]
            hosts = tuple(sorted((self._paths_of(m, name) for m in shared), key=lambda e: e.host))
            found = self._lun_facts[name] = _LunFacts(
                hosts=hosts,
                reachers=tuple(e for e in hosts if e.connected and not e.permanently_lost and e.working),
                lost_on=tuple(e for e in hosts if e.connected and e.permanently_lost),
            )
        return found

    def _judge_lun(self, host_moref: str, name: str, level: ServiceLevel) -> LunTruth:
        host = self.inv.hosts.get(host_moref)
        lun = (self._luns[host_moref].get(name) if host else None) or self._any_lun.get(name)
        local = _is_local(self._luns[host_moref].get(name)) if host else False
        here = self._paths_of(host_moref, name) if host else None
        facts = _LunFacts((here,), (), ()) if local and here else self._facts(name)
        verdict, explanation, sla_met = _judge(host, name, here, facts, level)
        ds = self._datastore_of(name, host_moref)
        return LunTruth(
            canonical_name=name, host=host.name if host else "", datastore=ds.name if ds else "",
            verdict=verdict, explanation=explanation, sla_met=sla_met,
            display_name=lun.display_name if lun else "", media=lun.media if lun else "unknown",
            lun_type=lun.lun_type if lun else "", vaai=lun.vaai if lun else "", local=local, hosts=facts.hosts,
        )

    def _host_lun(self, host: Host, name: str) -> HostLun:
        judged = self.lun_truth(host.moref, name)
        here = self._paths_of(host.moref, name)
        by_hba = {hba: _count_states(p for p in here.paths if p.hba == hba)
                  for hba in sorted({p.hba for p in here.paths})}
        return HostLun(
            canonical_name=name, display_name=judged.display_name, datastore=judged.datastore,
            verdict=judged.verdict, explanation=judged.explanation, media=judged.media,
            lun_type=judged.lun_type, vaai=judged.vaai, operational_state=here.operational_state,
            local=judged.local, counts=here.counts, working=here.working, total=here.total,
            by_hba=by_hba, paths=here.paths,
        )

    # -- datastores ---------------------------------------------------------------------------------

    def _datastore_of(self, name: str, host_moref: str) -> Datastore | None:
        """The datastore a LUN is an extent of. Local ``mpx.*`` names repeat across hosts, each host
        with its own local datastore: pick the one this host mounts."""
        candidates = self._lun_ds.get(name, ())
        if len(candidates) > 1:
            return next((ds for ds in candidates if host_moref in self._ds(ds).by_host), candidates[0])
        return candidates[0] if candidates else None

    def _ds(self, ds: Datastore) -> _DsFacts:
        found = self._ds_facts.get(ds.moref)
        if found is None:
            states = []
            for m in ds.mounts:
                host = self.inv.hosts.get(m.host)
                states.append(MountState(
                    host=host.name if host else m.host, host_moref=m.host, connected=bool(host and host.connected),
                    mounted=m.mounted, accessible=m.mounted and m.accessible, reason=m.inaccessible_reason,
                ))
            states.sort(key=lambda s: s.host)
            found = self._ds_facts[ds.moref] = _DsFacts(
                mounts=tuple(states), by_host={m.host: m for m in ds.mounts},
                accessible_on=tuple(s for s in states if s.connected and s.accessible),
                pdl_on=tuple(s for s in states if s.connected and s.reason == _PDL),
            )
        return found

    def _judge_datastore(self, cache: _Cache, host_moref: str, ds: Datastore) -> DatastoreTruth:
        host = self.inv.hosts.get(host_moref)
        facts = self._ds(ds)
        parts = [(t.verdict, t.explanation) for t in (self._lun(cache, host_moref, n) for n in ds.extents)]
        mount = _judge_mount(host, ds, facts)
        # A healthy mount adds nothing to what the extents say; otherwise the mount is evidence too.
        if mount is not None and (mount[0] is not Verdict.HEALTHY or not parts):
            parts.append(mount)
        if not parts:
            parts.append((Verdict.UNKNOWN, f"no extents or mounts known for {ds.name}"))
        verdict, explanation = _summarize(parts)
        return DatastoreTruth(
            moref=ds.moref, name=ds.name, kind=ds.kind, host=host.name if host else "", verdict=verdict,
            explanation=explanation, extents=ds.extents, remote=ds.remote, mounts=facts.mounts,
        )


# ---------------------------------------------------------------------------------------------------
# The rules (pure functions of already-gathered evidence)


def _judge(host: Host | None, name: str, here: HostPaths | None, facts: _LunFacts,
           level: ServiceLevel) -> tuple[Verdict, str, bool]:
    """Verdict, explanation and sla_met for LUN ``name`` as seen from ``host``."""
    if host is None or here is None or not host.connected:
        return Verdict.UNKNOWN, _no_data(host), False
    where = host.name
    if not here.present and not here.paths and not facts.hosts:
        return Verdict.UNKNOWN, f"no host sees {name}: it is not mapped to a device", False
    if here.permanently_lost:
        return Verdict.MEDIA_FAILURE, f"{name} {_lost_words(here.operational_state)} on {where}", False
    if here.working == 0:
        why = f" ({_bad_paths(here, host)})" if here.paths else ""
        others = [e.host for e in facts.reachers if e.host_moref != host.moref]
        if others:
            return (Verdict.CONNECTIVITY_LOST,
                    f"no working path to {name} on {where}{why}; {_names(others)} reach it: move the VM", False)
        if facts.lost_on:
            words = _lost_words(facts.lost_on[0].operational_state)
            return (Verdict.MEDIA_FAILURE,
                    f"no host reaches {name}, {words} on {_names([e.host for e in facts.lost_on])}", False)
        if all(e.host_moref == host.moref for e in facts.hosts):
            only = f"all paths down to {name} on {where}, the only host that sees it (APD)"
            return Verdict.ALL_PATHS_DOWN, only, False
        return Verdict.ALL_PATHS_DOWN, f"all paths down to {name} on every host (APD)", False
    below = here.working < level.min_working_paths
    want = f", service level wants {level.min_working_paths}"
    if here.working < here.total:
        working_hbas = sorted({p.hba for p in here.paths if p.state.working})
        text = (f"{here.total - here.working} of {here.total} paths to {name} {_bad_words(here)} on {where} "
                f"({_bad_paths(here, host)}); I/O continues on {', '.join(working_hbas)}")
        return Verdict.DEGRADED, text + (want if below else ""), not below
    if _IMPAIRED.intersection(here.operational_state):
        text = f"{name} reports operational state {', '.join(here.operational_state) or '?'} on {where}"
        return Verdict.DEGRADED, text + (want if below else ""), not below
    if below:
        return Verdict.BELOW_SLA, f"{here.working} of {here.total} paths to {name} working on {where}{want}", False
    count = f"all {here.total} paths" if here.total > 1 else "the only path"
    return Verdict.HEALTHY, f"{count} to {name} working on {where}", True


def _judge_mount(host: Host | None, ds: Datastore, facts: _DsFacts) -> tuple[Verdict, str] | None:
    """The verdict the mounts give; None when there are no mounts and extents can speak instead."""
    if host is None or not host.connected:
        return Verdict.UNKNOWN, _no_data(host)
    if not facts.mounts:
        return None if ds.extents else (Verdict.UNKNOWN, f"no mount information for {ds.name}")
    mount = facts.by_host.get(host.moref)
    reason = mount.inaccessible_reason if mount else ""
    if mount is not None and not mount.accessible and reason == _PDL:
        return Verdict.MEDIA_FAILURE, f"{ds.name} permanently lost (PDL) on {host.name}"
    if mount is not None and mount.mounted and mount.accessible:
        return Verdict.HEALTHY, f"{ds.name} accessible on {host.name}"
    why = "not mounted" if mount is None or not mount.mounted else "inaccessible" + (f" ({reason})" if reason else "")
    others = [s.host for s in facts.accessible_on if s.host_moref != host.moref]
    if others:
        return (Verdict.CONNECTIVITY_LOST,
                f"{ds.name} {why} on {host.name}; {_names(others)} mount it: move the VM")
    if facts.pdl_on:
        return (Verdict.MEDIA_FAILURE,
                f"{ds.name} {why} on {host.name}, permanently lost (PDL) on {_names([s.host for s in facts.pdl_on])}")
    return Verdict.ALL_PATHS_DOWN, f"{ds.name} inaccessible on every host (APD{': ' + reason if reason else ''})"


def _vm_verdict(host: Host | None, disks: tuple[DiskTruth, ...], level: ServiceLevel) -> tuple[Verdict, str]:
    if not disks:
        return Verdict.UNKNOWN, "no virtual disks"
    parts = [(d.verdict, f"{d.label}: {d.explanation}") for d in disks]
    verdict, explanation = _summarize(parts, shown=2)
    if verdict is Verdict.HEALTHY:
        explanation = f"{len(disks)} disk{'s' if len(disks) > 1 else ''} healthy on {host.name if host else '?'}"
    wanted = level.min_reachable_devices
    usable = sum(1 for d in disks if d.verdict.usable)
    if wanted is not None and usable < wanted:
        below = f"{usable} of {len(disks)} disks usable, service level wants {wanted}"
        explanation = below if verdict is Verdict.HEALTHY else f"{explanation}; {below}"
        verdict = max(verdict, Verdict.BELOW_SLA)
    return verdict, explanation


def _summarize(parts: list[tuple[Verdict, str]], shown: int = 3) -> tuple[Verdict, str]:
    """The worst verdict, explained by the (distinct) explanations that gave it."""
    if len(parts) == 1:
        return parts[0]
    worst = Verdict.worst(v for v, _ in parts)
    texts = list(dict.fromkeys(text for v, text in parts if v is worst))
    more = f"; and {len(texts) - shown} more" if len(texts) > shown else ""
    return worst, "; ".join(texts[:shown]) + more


# ---------------------------------------------------------------------------------------------------
# Wording


def _no_data(host: Host | None) -> str:
    if host is None:
        return "the VM's host is not known"
    return f"{host.name} is {host.connection_state}: no current storage data"


def _lost_words(state: tuple[str, ...]) -> str:
    if {"lostCommunication", "permanentDeviceLoss"}.intersection(state):
        return "permanently lost (PDL)"
    return f"failed (operational state {', '.join(state)})"


def _bad_words(here: HostPaths) -> str:
    bad = {s for s, n in here.counts.items() if n and s not in ("active", "standby")}
    if len(bad) == 1:
        return {"dead": "dead", "disabled": "disabled"}.get(bad.pop(), "in unknown state")
    return "not working"


def _bad_paths(here: HostPaths, host: Host) -> str:
    """Which HBAs carry the broken paths ("vmhba2 offline"), and the target if they share one."""
    bad = [p for p in here.paths if not p.state.working]
    offline = {h.device for h in host.hbas if not h.online and h.status.lower() != "unknown"}
    hbas = ", ".join(f"{hba} offline" if hba in offline else hba for hba in sorted({p.hba for p in bad}))
    targets = {p.target for p in bad}
    if len(targets) == 1 and "" not in targets and len({p.target for p in here.paths}) > 1:
        return f"{hbas}, target {targets.pop()}"
    return hbas


def _names(names: list[str]) -> str:
    if len(names) <= _NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:_NAMES_SHOWN])} and {len(names) - _NAMES_SHOWN} more"


def _is_local(lun: Lun | None) -> bool:
    return bool(lun and lun.local)


def _count_states(paths: Iterable[Path]) -> dict[str, int]:
    counts = dict.fromkeys(_STATES, 0)
    for path in paths:
        counts[path.state.value] += 1
    return counts


def _hba_summary(hba: Hba, paths: tuple[Path, ...]) -> HbaSummary:
    counts = _count_states(p for p in paths if p.hba == hba.device)
    return HbaSummary(
        device=hba.device, kind=hba.kind, status=hba.status, online=hba.online, model=hba.model, wwpn=hba.wwpn,
        counts=counts, working=counts["active"] + counts["standby"], total=sum(counts.values()),
    )


# ---------------------------------------------------------------------------------------------------
# Module functions: one question, one context


def disk_truths(inv: Inventory, level: ServiceLevel | None = None) -> tuple[DiskTruth, ...]:
    """The truth of every disk of every VM."""
    return TruthContext(inv).disk_truths(level)


def vm_truths(inv: Inventory, level: ServiceLevel | None = None) -> tuple[VmTruth, ...]:
    return TruthContext(inv).vm_truths(level)


def vm_truth(inv: Inventory, vm_moref: str, level: ServiceLevel | None = None) -> VmTruth:
    """One VM: identity, host, cluster, and its disks. KeyError for a VM not in the inventory."""
    return TruthContext(inv).vm_truth(vm_moref, level)


def host_summary(inv: Inventory, host_moref: str) -> HostSummary:
    """One host's storage, as its admin wants it. KeyError for a host not in the inventory."""
    return TruthContext(inv).host_summary(host_moref)


def by_disk(truths: Iterable[DiskTruth]) -> dict[DiskId, DiskTruth]:
    """Key disk truths by (vm moref, disk key), as ``verdict_changes`` compares them."""
    return {t.id: t for t in truths}


def verdict_changes(old: Mapping[DiskId, DiskTruth], new: Mapping[DiskId, DiskTruth]) -> list[VerdictChange]:
    """Disks whose verdict differs (or that appeared or disappeared), sorted by (vm, disk key)."""
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and before.verdict is after.verdict:
            continue
        latest = after or before
        assert latest is not None
        changes.append(VerdictChange(
            vm=latest.vm, vm_name=latest.vm_name, key=latest.key, label=latest.label, host=latest.host,
            old=before.verdict if before else None, new=after.verdict if after else None,
            explanation=latest.explanation,
        ))
    return changes
