"""The model: plain, immutable data describing what vCenter knows about storage.

Everything downstream (truth, plan, CLI, web) reads these types and nothing else. They are built
by the vCenter edge (``vsguesttruth.vcenter``) from PropertyCollector results; no pyVmomi object
ever lives in here, so the core can be tested with hand-written data in milliseconds.

Identifiers: hosts, datastores and VMs are keyed by their managed object reference value
(``host-42``); LUNs by canonical name (``naa.6006...``), which is the same on every host that sees
the LUN, like on a real SAN.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Mapping


class PathState(str, Enum):
    """Multipath path state, as vSphere reports it (``HostMultipathInfoPath.pathState``)."""

    ACTIVE = "active"
    STANDBY = "standby"
    DISABLED = "disabled"
    DEAD = "dead"
    UNKNOWN = "unknown"

    @property
    def available(self) -> bool:
        """Whether the path could carry I/O: ``active`` (an ALUA optimized or non-optimized port) or
        ``standby`` (activated when the active ones fail). Redundancy and service levels count these."""
        return self in (PathState.ACTIVE, PathState.STANDBY)

    @property
    def working(self) -> bool:
        """The older name of :attr:`available`."""
        return self.available

    @classmethod
    def parse(cls, value: str | None) -> "PathState":
        try:
            return cls(value or "unknown")
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class Hba:
    """A host bus adapter (``HostHostBusAdapter``)."""

    device: str  # "vmhba2"
    key: str  # "key-vim.host.FibreChannelHba-vmhba2"; paths refer to it
    kind: str  # "fc", "iscsi", "sas", "block", "pcie", "other"
    status: str  # "online", "offline", "unknown", ...
    model: str = ""
    wwpn: str = ""  # "20:00:00:25:b5:0a:00:02" for FC, "" otherwise
    wwnn: str = ""  # the adapter's node WWN (FC; SAS adapters report one too), "" when none
    protocol: str = ""  # storageProtocol: "scsi", "nvme" ("" when not reported)

    @property
    def online(self) -> bool:
        return self.status.lower() == "online"

    @property
    def san(self) -> bool:
        """An adapter that reaches shared storage and reports its link: Fibre Channel (and FCoE, FC-NVMe) or
        iSCSI. The others (SAS, SATA/IDE, PVSCSI, local NVMe, USB) are local adapters: ESXi reports their
        status ``unknown``, which says nothing is wrong."""
        return self.kind in ("fc", "iscsi")

    @property
    def words(self) -> str:
        """How an admin names the kind: "FC HBA", "FC-NVMe adapter", "iSCSI adapter", "local adapter"."""
        if self.kind == "fc":
            return "FC-NVMe adapter" if self.protocol == "nvme" else "FC HBA"
        if self.kind == "iscsi":
            return "iSCSI adapter"
        return "local adapter"


@dataclass(frozen=True, slots=True)
class Lun:
    """A SCSI LUN as one host sees it (``ScsiLun``/``HostScsiDisk``)."""

    canonical_name: str  # "naa.600601600a0b00000000000000000001"
    uuid: str  # ScsiLun.uuid; an RDM's backing.lunUuid refers to it
    key: str = ""  # ScsiLun.key on this host; multipath info refers to it
    display_name: str = ""
    vendor: str = ""
    model: str = ""
    lun_type: str = "disk"  # ScsiLun.lunType: "disk", "cdrom", ...
    media: str = "unknown"  # "ssd", "hdd", "unknown"
    vaai: str = "vStorageUnknown"  # vStorageSupported / vStorageUnsupported / vStorageUnknown
    operational_state: tuple[str, ...] = ("ok",)  # ScsiLun.operationalState
    capacity_bytes: int = 0
    local: bool = False
    path_selection_policy: str = ""  # multipathInfo.lun[].policy.policy: "VMW_PSP_RR", "VMW_PSP_MRU", ...
    satp: str = ""  # multipathInfo.lun[].storageArrayTypePolicy.policy: "VMW_SATP_ALUA", ...
    # Who reports the paths: "NMP" (an entry in multipathInfo), "HPP" (an NVMe namespace: no multipathInfo
    # entry; paths from the NVMe topology and multipathState), "" (another plug-in: paths not reported)
    claimed_by: str = ""

    @property
    def ok(self) -> bool:
        """The LUN's own state is ok (``operationalState`` ``ok``), as vCenter and check_vsphere use the word:
        nothing about whether this host reaches it."""
        return self.operational_state[:1] == ("ok",)


@dataclass(frozen=True, slots=True)
class Path:
    """One multipath path from a host to a LUN (``HostMultipathInfoPath``).

    Two words, used everywhere: a path is *available* when it could carry I/O (state ``active``, ALUA
    optimized or non-optimized, or ``standby``), and *carrying I/O* when the path selection policy sends
    I/O down it now (``isWorkingPath``, the vSphere Client's "Active (I/O)"). Under Round Robin on an ALUA
    array the optimized paths carry I/O; under MRU or Fixed one path does, and the others wait.
    """

    name: str  # "vmhba2:C0:T1:L3" on the lab; the name DisableMultipathPath takes
    lun: str  # canonical name of the LUN
    hba: str  # adapter device, "vmhba2"
    target: str  # target port WWPN (FC) or IQN; "" when unknown
    state: PathState
    io: bool | None = None  # isWorkingPath: carrying I/O now; None when vSphere does not report it
    target_node: str = ""  # the target's node WWN (FC), "" when unknown
    target_port_name: str = ""  # the array's name for the port, from the admin's [san] port_names ("" unknown)

    @property
    def available(self) -> bool:
        return self.state.available

    @property
    def carrying_io(self) -> bool:
        return self.io is True


@dataclass(frozen=True, slots=True)
class Host:
    """An ESXi host and its storage view."""

    moref: str  # "host-42"
    name: str  # "esx-a01"
    cluster: str = ""  # cluster name, "" for a standalone host
    connection_state: str = "connected"  # connected / disconnected / notResponding
    maintenance: bool = False
    quarantine: bool = False  # runtime.inQuarantineMode: Proactive HA keeps VMs off it
    hbas: tuple[Hba, ...] = ()
    luns: tuple[Lun, ...] = ()
    paths: tuple[Path, ...] = ()

    @property
    def connected(self) -> bool:
        return self.connection_state == "connected"

    def lun(self, canonical_name: str) -> Lun | None:
        return next((lun for lun in self.luns if lun.canonical_name == canonical_name), None)

    def lun_by_uuid(self, uuid: str) -> Lun | None:
        return next((lun for lun in self.luns if lun.uuid == uuid), None)

    def paths_to(self, canonical_name: str) -> tuple[Path, ...]:
        return tuple(p for p in self.paths if p.lun == canonical_name)


@dataclass(frozen=True, slots=True)
class Mount:
    """How one host mounts a datastore (``DatastoreHostMount.mountInfo``)."""

    host: str  # host moref
    mounted: bool = True
    accessible: bool = True
    inaccessible_reason: str = ""  # "AllPathsDown_Start", "AllPathsDown_Timeout", "PermanentDeviceLoss"


@dataclass(frozen=True, slots=True)
class Datastore:
    """A datastore (``Datastore.summary``/``info``/``host``)."""

    moref: str  # "datastore-17"
    name: str
    kind: str  # summary.type: "VMFS", "NFS", "NFS41", "vsan", "VVOL", "OTHER"
    url: str = ""
    accessible: bool = True
    extents: tuple[str, ...] = ()  # VMFS: canonical names of the extent LUNs, in order
    remote: str = ""  # NFS: "server:/path"
    capacity_bytes: int = 0
    free_bytes: int = 0
    mounts: tuple[Mount, ...] = ()

    def mount(self, host_moref: str) -> Mount | None:
        return next((m for m in self.mounts if m.host == host_moref), None)


@dataclass(frozen=True, slots=True)
class Disk:
    """A virtual disk of a VM and its backing (``VirtualDisk``)."""

    key: int  # device key, e.g. 2000
    label: str  # "Hard disk 1"
    controller: str  # "pvscsi", "lsilogic", "lsilogic-sas", "buslogic", "nvme", "sata", "ide"
    bus: int  # controller bus number
    unit: int  # unit number on the controller
    capacity_bytes: int = 0
    backing: str = "vmdk"  # "vmdk", "rdm_physical", "rdm_virtual", "other"
    uuid: str = ""  # backing uuid (the guest's disk serial/WWN with disk.EnableUUID)
    files: tuple[str, ...] = ()  # "[ds] vm/vm-000001.vmdk" first, base disk last
    datastores: tuple[str, ...] = ()  # datastore morefs of the chain, unique, in chain order
    lun_uuid: str = ""  # RDM: ScsiLun.uuid of the mapped LUN
    device_name: str = ""  # RDM: "/vmfs/devices/disks/naa..."


@dataclass(frozen=True, slots=True)
class Vm:
    """A virtual machine, its disks, and our guestinfo keys."""

    moref: str  # "vm-51"
    name: str
    uuid: str = ""  # config.instanceUuid
    power_state: str = "poweredOn"
    host: str = ""  # runtime.host moref, "" when unknown
    disks: tuple[Disk, ...] = ()
    guestinfo: Mapping[str, str] = field(default_factory=dict)  # only guestinfo.vsguesttruth.* keys
    hardware_version: str = ""  # config.version: "vmx-20" (VM data sets need vmx-20 or later)


@dataclass(frozen=True, slots=True)
class Vmcp:
    """A cluster's vSphere HA VM Component Protection settings (``configurationEx.dasConfig``) and a host's APD
    timeout (``Misc.APDTimeout``): what HA does when a host loses a VM's storage."""

    cluster: str
    ha: bool  # dasConfig.enabled
    vmcp: bool  # dasConfig.vmComponentProtecting == "enabled"
    pdl: str = "disabled"  # vmStorageProtectionForPDL: disabled, warning, restartAggressive
    apd: str = "disabled"  # vmStorageProtectionForAPD: disabled, warning, restartConservative, restartAggressive
    terminate_delay: int = 180  # vmTerminateDelayForAPDSec
    apd_timeout: int | None = None  # the host's Misc.APDTimeout (None: not read)


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A storage problem a host reported for one of its devices as a vCenter event (``esx.problem.*``), still
    open: no ``esx.clear.*`` event for it since. ``device`` "" is the host itself (its connection to vCenter)."""

    host: str  # host moref
    device: str  # canonical name of the device ("" for the host's connection)
    kind: str  # pdl, apd, apd_timeout, connectivity_lost, redundancy_lost, redundancy_degraded, not_connected
    since: datetime  # when the condition began (an APD that timed out: when it started)
    event_type: str  # the eventTypeId (or event class) that says so now
    key: int = 0  # the vCenter event key


@dataclass(frozen=True, slots=True)
class Delta:
    """The objects an inventory of the watch replaced, added or removed since the watch's inventory before it
    (``base``: that one's serial). The watch knows them from the changes vCenter sent; a reader comparing
    20,000 VMs by identity to find the ten a flap touched spends more than the rest of its pass."""

    base: int
    hosts: frozenset[str] = frozenset()
    datastores: frozenset[str] = frozenset()
    vms: frozenset[str] = frozenset()


_serials = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything at one moment. Replace, don't mutate: ``inventory.with_host(h)``.

    Besides the objects, what the events and the watch say about time: ``device_events`` are the hosts'
    open storage events by (host moref, device canonical name); ``since`` is when the watch first saw a
    problem that is still there, by host moref (its connection) and by ``"<host moref>/<canonical name>"``
    (a LUN's paths or state on that host).
    """

    hosts: Mapping[str, Host] = field(default_factory=dict)
    datastores: Mapping[str, Datastore] = field(default_factory=dict)
    vms: Mapping[str, Vm] = field(default_factory=dict)
    device_events: Mapping[tuple[str, str], tuple[DeviceEvent, ...]] = field(default_factory=dict)
    since: Mapping[str, datetime] = field(default_factory=dict)
    #: set by the watch (:meth:`stamped`), never copied by ``replace``: an inventory derived from this one is not
    #: the watch's and has no serial (0) and no delta
    serial: int = field(default=0, init=False, compare=False, repr=False)
    delta: Delta | None = field(default=None, init=False, compare=False, repr=False)

    def stamped(self, delta: Delta | None) -> "Inventory":
        """This inventory with a new serial, and ``delta``: what changed since the inventory of serial
        ``delta.base`` (None: unknown, e.g. after a resync)."""
        object.__setattr__(self, "serial", next(_serials))
        object.__setattr__(self, "delta", delta)
        return self

    def with_host(self, host: Host) -> "Inventory":
        return replace(self, hosts={**self.hosts, host.moref: host})

    def with_datastore(self, ds: Datastore) -> "Inventory":
        return replace(self, datastores={**self.datastores, ds.moref: ds})

    def with_vm(self, vm: Vm) -> "Inventory":
        return replace(self, vms={**self.vms, vm.moref: vm})

    def without(self, moref: str) -> "Inventory":
        return replace(
            self,
            hosts={k: v for k, v in self.hosts.items() if k != moref},
            datastores={k: v for k, v in self.datastores.items() if k != moref},
            vms={k: v for k, v in self.vms.items() if k != moref},
        )

    def events_of(self, host_moref: str, device: str) -> tuple[DeviceEvent, ...]:
        """The open storage events of one host about one device ("": about the host's connection)."""
        return self.device_events.get((host_moref, device), ())

    def changed_since(self, before: "Inventory", kind: str) -> set[str]:
        """The morefs of ``kind`` ("hosts", "datastores", "vms") whose object is not the same here as in
        ``before``: new, replaced or gone. From the watch's delta when ``before`` is the inventory it follows,
        else by comparing every object's identity."""
        if before is self:
            return set()
        delta = self.delta
        if delta is not None and before.serial and delta.base == before.serial:
            return set(getattr(delta, kind))
        was: Mapping[str, object] = getattr(before, kind)
        now: Mapping[str, object] = getattr(self, kind)
        if was is now:
            return set()
        found = {k for k, v in now.items() if was.get(k) is not v}
        added = sum(1 for k in found if k not in was)
        if len(was) != len(now) - added:  # some are gone
            found.update(k for k in was if k not in now)
        return found

    def host_by_name(self, name: str) -> Host | None:
        return next((h for h in self.hosts.values() if h.name == name), None)

    def vm_by_name(self, name: str) -> Vm | None:
        return next((v for v in self.vms.values() if v.name == name), None)


@dataclass(frozen=True)
class Tagged:
    """The objects carrying some tags: VM, host and datastore morefs, cluster names."""

    vms: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    clusters: frozenset[str] = frozenset()
    datastores: frozenset[str] = frozenset()

    def carries(self, vm: Vm, inv: Inventory) -> bool:
        """Whether the VM, its host, its host's cluster or a datastore of its disks is among them."""
        if vm.moref in self.vms or vm.host in self.hosts:
            return True
        host = inv.hosts.get(vm.host)
        if host is not None and host.cluster and host.cluster in self.clusters:
            return True
        return bool(self.datastores) and any(ds in self.datastores for d in vm.disks for ds in d.datastores)
