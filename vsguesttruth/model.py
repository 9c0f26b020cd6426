"""The model: plain, immutable data describing what vCenter knows about storage.

Everything downstream (truth, plan, CLI, web) reads these types and nothing else. They are built
by the vCenter edge (``vsguesttruth.vcenter``) from PropertyCollector results; no pyVmomi object
ever lives in here, so the core can be tested with hand-written data in milliseconds.

Identifiers: hosts, datastores and VMs are keyed by their managed object reference value
(``host-42``); LUNs by canonical name (``naa.6006...``), which is the same on every host that sees
the LUN, like on a real SAN.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    def working(self) -> bool:
        """Whether I/O can flow on this path (an ALUA standby path is a working path)."""
        return self in (PathState.ACTIVE, PathState.STANDBY)

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
    wwnn: str = ""  # the FC node WWN; "" otherwise or while not read

    @property
    def online(self) -> bool:
        return self.status.lower() == "online"


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
    path_selection_policy: str = ""  # HostMultipathInfoLogicalUnit.policy: "VMW_PSP_RR", ...; "" while not read
    satp: str = ""  # the storage array type plug-in that claimed it: "VMW_SATP_ALUA", ...; "" while not read

    @property
    def ok(self) -> bool:
        return self.operational_state[:1] == ("ok",)

    @property
    def permanently_lost(self) -> bool:
        """PDL or a failed device: the LUN itself is gone, not just the way to it."""
        bad = {"error", "off", "lostCommunication", "permanentDeviceLoss"}
        return bool(bad.intersection(self.operational_state)) and "degraded" not in self.operational_state


@dataclass(frozen=True, slots=True)
class Path:
    """One multipath path from a host to a LUN (``HostMultipathInfoPath``)."""

    name: str  # "vmhba2:C0:T1:L3" on the lab; the name DisableMultipathPath takes
    lun: str  # canonical name of the LUN
    hba: str  # adapter device, "vmhba2"
    target: str  # target port WWPN (FC) or IQN; "" when unknown
    state: PathState
    io: bool | None = None  # isWorkingPath: carries I/O now; None while not read
    target_node: str = ""  # the target's node WWN (FC); "" when unknown
    target_port_name: str = ""  # the array's name for the port ("A-ctl0-p0"), where the admin's config knows it


@dataclass(frozen=True, slots=True)
class Host:
    """An ESXi host and its storage view."""

    moref: str  # "host-42"
    name: str  # "esx-a01"
    cluster: str = ""  # cluster name, "" for a standalone host
    connection_state: str = "connected"  # connected / disconnected / notResponding
    maintenance: bool = False
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


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything at one moment. Replace, don't mutate: ``inventory.with_host(h)``."""

    hosts: Mapping[str, Host] = field(default_factory=dict)
    datastores: Mapping[str, Datastore] = field(default_factory=dict)
    vms: Mapping[str, Vm] = field(default_factory=dict)

    def with_host(self, host: Host) -> "Inventory":
        return replace(self, hosts={**self.hosts, host.moref: host})

    def with_datastore(self, ds: Datastore) -> "Inventory":
        return replace(self, datastores={**self.datastores, ds.moref: ds})

    def with_vm(self, vm: Vm) -> "Inventory":
        return replace(self, vms={**self.vms, vm.moref: vm})

    def without(self, moref: str) -> "Inventory":
        return Inventory(
            hosts={k: v for k, v in self.hosts.items() if k != moref},
            datastores={k: v for k, v in self.datastores.items() if k != moref},
            vms={k: v for k, v in self.vms.items() if k != moref},
        )

    def host_by_name(self, name: str) -> Host | None:
        return next((h for h in self.hosts.values() if h.name == name), None)

    def vm_by_name(self, name: str) -> Vm | None:
        return next((v for v in self.vms.values() if v.name == name), None)
