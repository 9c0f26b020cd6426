"""What the truth answers, as plain frozen data: the evidence per host (:class:`HostPaths`,
:class:`MountState`), the judged LUNs, datastores, disks and VMs, the storage admin's view of a host, and
verdict changes. Every result turns into plain JSON with ``as_dict()`` (what ``--json`` prints)."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from functools import cache
from typing import Any, ClassVar, Iterable, Mapping

from vsguesttruth.model import Disk, Path, PathState

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
        return count_states(self.paths)

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
    host_evacuation: str = ""  # "quarantine" / "maintenance": vSphere is moving VMs off the host

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


def count_states(paths: Iterable[Path]) -> dict[str, int]:
    counts = dict.fromkeys(_STATES, 0)
    for path in paths:
        counts[path.state.value] += 1
    return counts
