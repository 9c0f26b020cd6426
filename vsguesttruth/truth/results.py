"""What the truth answers, as plain frozen data: the evidence per host (:class:`HostPaths`,
:class:`MountState`), the judged LUNs, datastores, disks and VMs, the storage admin's view of a host, and
verdict changes. Every result turns into plain JSON with ``as_dict()`` (what ``--json`` prints)."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from enum import Enum
from functools import cache
from operator import attrgetter
from typing import Any, ClassVar, Iterable, Mapping

from vsguesttruth.model import Disk, Path, PathState
from vsguesttruth.policy import ServiceLevel

from .verdict import Advice, Verdict

DiskId = tuple[str, int]  # (vm moref, disk device key)

_STATES = tuple(s.value for s in PathState)


def to_json(obj: Any, evidence: bool = True) -> Any:
    """Plain dicts/lists/str/int/bool/None for any truth object (what ``--json`` prints).

    ``evidence=False`` keeps, of the per-host evidence of a LUN or datastore, only the host it was judged
    from: every host that sees a LUN can be 2,000 hosts x 4 paths, too much for a listing of all disks.
    """
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
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


@dataclass(frozen=True, slots=True)
class HostPaths(_Json):
    """What one host sees of one LUN: its paths, its mount of the LUN's datastore, its events about it.

    ``available``: paths that could carry I/O (active or standby); ``io``: paths carrying I/O now
    (``isWorkingPath``), None when vSphere does not say. ``reported``: whether the host reports the LUN's
    paths at all (a device another plug-in than NMP claims, without NVMe topology, has none listed: that is
    not "zero paths"). ``pdl`` and ``apd`` say in words what evidence there is of a permanent device loss or
    an all-paths-down on this host ("" none); ``since`` when the condition began (``since_source``: "event"
    from the host's events, "watch" when the service first saw it).
    """

    host: str  # host name
    host_moref: str
    connected: bool
    present: bool  # the host lists the LUN among its SCSI LUNs
    operational_state: tuple[str, ...]
    paths: tuple[Path, ...]
    available: int
    io: int | None
    reported: bool
    path_selection_policy: str
    satp: str
    mount_accessible: bool | None  # None: the LUN backs no datastore, or the host has no mount of it
    mount_reason: str
    pdl: str
    apd: str
    since: datetime | None
    since_source: str

    _json_properties: ClassVar[tuple[str, ...]] = ("counts", "total", "working", "permanently_lost")

    @property
    def counts(self) -> dict[str, int]:
        """Every path state -> number of paths in it (computed: most evidence is never looked at)."""
        return count_states(self.paths)

    @property
    def total(self) -> int:
        return len(self.paths)

    @property
    def working(self) -> int:
        """The older name of :attr:`available`."""
        return self.available

    @property
    def permanently_lost(self) -> bool:
        """Evidence of a permanent device loss on this host (the datastore mount or the host's event)."""
        return bool(self.pdl)


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
    sla_met: bool  # enough available paths here for the service level
    display_name: str
    media: str
    lun_type: str
    vaai: str
    local: bool
    path_selection_policy: str  # on the judged host ("" when the host does not report one)
    satp: str
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
    mapping: DatastoreTruth | None = None  # RDM: the datastore of its mapping file (vMotion and power-on need it)

    _json_properties: ClassVar[tuple[str, ...]] = ("advice",)

    @property
    def advice(self) -> Advice:
        return advice_for(self.verdict, self.sla_met)

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
    level: "LevelCheck"  # the service level it is judged by, met or not, by how much
    host_evacuation: str = ""  # "quarantine" / "maintenance": vSphere is moving VMs off the host

    _json_properties: ClassVar[tuple[str, ...]] = ("advice",)

    @property
    def advice(self) -> Advice:
        return advice_for(self.verdict, self.sla_met)


def judged_only(truth: VmTruth) -> VmTruth:
    """The VM's truth with the evidence of its own host only (each LUN's view and each datastore's mount from the
    VM's host), the verdicts and explanations unchanged: what a reader of many VMs' truths keeps (the service's
    remediation). A full truth holds every host's view of each LUN and mount (2,000 each at 2,000 hosts), and
    truths judged in different inventories hold different copies of them."""
    here, name = truth.host_moref, truth.host

    def lun(lt: LunTruth) -> LunTruth:
        return replace(lt, hosts=of_host(lt.hosts, name, here))

    def ds(dt: DatastoreTruth) -> DatastoreTruth:
        return replace(dt, mounts=of_host(dt.mounts, name, here))

    disks = tuple(replace(d, luns=tuple(map(lun, d.luns)), datastores=tuple(map(ds, d.datastores)),
                          mapping=ds(d.mapping) if d.mapping is not None else None) for d in truth.disks)
    return replace(truth, disks=disks)


def of_host(entries: tuple[Any, ...], host: str, host_moref: str) -> tuple[Any, ...]:
    """The entries of one host (name, moref) among a LUN's views or a datastore's mounts (sorted by host name):
    found by name, not by a scan of 2,000."""
    i = bisect_left(entries, host, key=_HOST)
    while i < len(entries) and entries[i].host == host:
        if entries[i].host_moref == host_moref:
            return (entries[i],)
        i += 1
    return tuple(e for e in entries if e.host_moref == host_moref)  # not sorted as expected: look at all


_HOST = attrgetter("host")


@dataclass(frozen=True, slots=True)
class LevelCheck(_Json):
    """The service level a VM is judged by (its guest's policy, or the service's), and whether its storage
    meets it from the VM's host: ``fewest_paths`` is the fewest available paths to any of its LUNs there
    (None when no LUN's paths are counted), ``shortfall`` says by how much it misses ("" when met)."""

    min_working_paths: int
    min_reachable_devices: int | None
    met: bool
    fewest_paths: int | None
    usable_disks: int
    disks: int
    shortfall: str

    @classmethod
    def of(cls, level: ServiceLevel, met: bool, fewest: int | None, usable: int, disks: int,
           shortfall: str) -> "LevelCheck":
        return cls(level.min_working_paths, level.min_reachable_devices, met, fewest, usable, disks, shortfall)

    def words(self) -> str:
        """"level 2 paths per LUN: met" / "level 4 paths per LUN: 1 path short on naa.x (3 of 4)"."""
        wanted = f"{self.min_working_paths} path{'s' if self.min_working_paths != 1 else ''} per LUN"
        if self.min_reachable_devices:
            wanted += f", {self.min_reachable_devices} usable disk{'s' if self.min_reachable_devices != 1 else ''}"
        return f"level {wanted}: " + ("met" if self.met else self.shortfall or "not met")


def advice_for(verdict: Verdict, sla_met: bool) -> Advice:
    """What the guest (and the planner) should do: the verdict's advice, except that a degraded disk below
    its service level is to be moved where the level holds, which is what the planner does about it."""
    if verdict is Verdict.DEGRADED and not sla_met:
        return Advice.MOVE
    return verdict.advice


@dataclass(frozen=True, slots=True)
class HbaSummary(_Json):
    device: str
    kind: str
    status: str
    online: bool
    model: str
    wwpn: str
    wwnn: str
    protocol: str
    san: bool  # FC or iSCSI: online/offline mean something; a local adapter reports "unknown"
    words: str  # "FC HBA", "FC-NVMe adapter", "iSCSI adapter", "local adapter"
    counts: Mapping[str, int]
    available: int
    io: int
    total: int

    _json_properties: ClassVar[tuple[str, ...]] = ("working",)

    @property
    def working(self) -> int:
        return self.available


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
    path_selection_policy: str
    satp: str
    counts: Mapping[str, int]
    available: int
    io: int | None
    total: int
    by_hba: Mapping[str, Mapping[str, int]]  # hba device -> path state -> count
    paths: tuple[Path, ...]

    _json_properties: ClassVar[tuple[str, ...]] = ("working",)

    @property
    def working(self) -> int:
        return self.available


@dataclass(frozen=True, slots=True)
class HostSummary(_Json):
    """The storage admin's view of one host: "2/2 FC HBAs online, 1 local adapter, 10/10 LUNs ok,
    32/32 paths available, 14 carrying I/O"."""

    moref: str
    name: str
    cluster: str
    connection_state: str
    maintenance: bool
    line: str
    verdict: Verdict  # worst of its LUNs
    hbas_online: int  # SAN adapters (FC, iSCSI) online
    hbas_total: int  # SAN adapters
    local_adapters: int  # the others (SAS, SATA/IDE, PVSCSI, local NVMe): ESXi reports them "unknown"
    luns_ok: int  # operational state ok and reached from this host
    luns_unreachable: int  # operational state ok, but no path from this host is available
    luns_total: int
    paths_available: int
    paths_io: int | None  # None when no path's isWorkingPath is reported
    paths_total: int
    since: datetime | None  # not connected: since when (events or the watch); None when unknown
    hbas: tuple[HbaSummary, ...]  # every HBA
    luns: tuple[HostLun, ...]

    _json_properties: ClassVar[tuple[str, ...]] = ("paths_working",)

    @property
    def paths_working(self) -> int:
        """The older name of :attr:`paths_available`."""
        return self.paths_available


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


def count_states(paths: Iterable[Path]) -> dict[str, int]:
    counts = dict.fromkeys(_STATES, 0)
    for path in paths:
        counts[path.state._value_] += 1  # an enum's ``.value`` is a descriptor call: ten times slower
    return counts
