"""The documented shapes of a VM's chain (disk -> datastores -> LUNs -> paths on every host), of a host's
storage adapters, devices and paths, and of the LUN, datastore and target-port views (pydantic). Objects that
mirror the model allow extra fields, so a field the collector learns passes through before it is named here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from vsguesttruth.truth import Advice, Verdict

from .schemas import Counts, HostBadge, HostRow, Paged, VmRow, _Open


# -- one VM: the chain -------------------------------------------------------------------------------

class PathInfo(_Open):
    name: str = Field(description="Runtime name, e.g. vmhba2:C0:T1:L3.")
    lun: str
    hba: str
    target: str
    state: str = Field(description="active, standby, disabled, dead, unknown; active or standby: available.")
    io: bool | None = Field(description="Carrying I/O now (isWorkingPath); null when vSphere does not say.")
    target_node: str = Field(description="The target's node WWN (FC).")
    target_port_name: str = Field(description="The array's name for the port, from [san] port_names; else empty.")


class HostPathsInfo(_Open):
    host: str
    host_moref: str
    connected: bool
    present: bool
    operational_state: list[str]
    permanently_lost: bool = Field(description="Evidence of a permanent device loss on this host (pdl says which).")
    paths: list[PathInfo]
    available: int = Field(description="Paths that could carry I/O (active or standby).")
    io: int | None = Field(description="Paths carrying I/O now; null when vSphere does not say.")
    working: int = Field(description="The older name of available.")
    total: int
    counts: Counts
    reported: bool = Field(description="False: the host reports no paths for this device (not claimed by NMP).")
    path_selection_policy: str
    satp: str
    mount_accessible: bool | None
    mount_reason: str
    pdl: str = Field(description="Evidence of a permanent device loss here, in words; empty when none.")
    apd: str = Field(description="Evidence of an all-paths-down here (mount reason or event); empty when none.")
    since: str | None = Field(description="When the condition began (ISO 8601), from the host's events or the watch.")
    since_source: str = Field(description="event, watch, or empty.")


class LunInfo(_Open):
    canonical_name: str
    host: str
    datastore: str
    verdict: Verdict
    explanation: str
    sla_met: bool
    display_name: str
    media: str
    lun_type: str
    vaai: str
    local: bool
    path_selection_policy: str
    satp: str
    hosts: list[HostPathsInfo]


class MountInfo(_Open):
    host: str
    host_moref: str
    connected: bool
    mounted: bool
    accessible: bool
    reason: str


class DatastoreInfo(_Open):
    moref: str
    name: str
    kind: str
    host: str
    verdict: Verdict
    explanation: str
    extents: list[str]
    remote: str
    mounts: list[MountInfo]


class VirtualDisk(_Open):
    key: int
    label: str
    controller: str
    bus: int
    unit: int
    capacity_bytes: int
    backing: str
    uuid: str
    files: list[str]
    datastores: list[str]


class IncidentRef(BaseModel):
    id: str
    kind: str
    component: str
    cause: str
    since: str


class DiskTruthInfo(_Open):
    vm: str
    vm_name: str
    host: str
    host_moref: str
    disk: VirtualDisk
    verdict: Verdict
    advice: Advice
    explanation: str
    sla_met: bool
    datastores: list[DatastoreInfo]
    luns: list[LunInfo]
    mapping: DatastoreInfo | None = Field(
        default=None, description="An RDM's mapping file datastore: vMotion and power-on need it, I/O does not.")
    incidents: list[IncidentRef] = Field(default=[], description="The open incidents behind the disk's verdict.")


class Level(BaseModel):
    min_working_paths: int
    min_reachable_devices: int | None
    source: Literal["default", "applied", "invalid"] = Field(
        description="default: the service's level; applied: the guest's policy; invalid: the guest's was refused.")
    message: str = ""
    met: bool = Field(description="Whether the VM's storage meets it from the VM's host.")
    fewest_paths: int | None = Field(description="The fewest available paths to any of its LUNs there.")
    usable_disks: int
    disks: int
    shortfall: str = Field(description="By how much it misses; empty when met.")


class VmMap(_Open):
    vm: str
    name: str
    uuid: str
    power_state: str
    host: str
    host_moref: str
    cluster: str
    verdict: Verdict
    advice: Advice
    explanation: str
    sla_met: bool
    level: Level = Field(description="The service level this VM is judged by.")
    disks: list[DiskTruthInfo]


# -- hosts and storage -----------------------------------------------------------------------------

class Adapter(BaseModel):
    device: str
    kind: str
    model: str
    status: str
    online: bool
    wwpn: str
    wwnn: str = Field(description="Node WWN (FC and SAS adapters report one).")
    words: str = Field(description="FC HBA, FC-NVMe adapter, iSCSI adapter or local adapter.")
    protocol: str
    san: bool = Field(description="FC or iSCSI; a local adapter reports status unknown, which is normal.")
    targets: int
    devices: int
    paths_total: int
    paths_working: int = Field(description="Available paths (active or standby).")
    paths_io: int = Field(description="Paths carrying I/O.")


class Device(_Open):
    canonical_name: str
    display_name: str
    vendor: str
    model: str
    capacity_bytes: int
    media: str
    lun_type: str
    local: bool
    operational_state: list[str]
    datastore: str
    path_selection_policy: str = Field(description="e.g. VMW_PSP_RR; empty when the device is not claimed by NMP.")
    satp: str = Field(description="e.g. VMW_SATP_ALUA.")
    claimed_by: str = Field(description="NMP, HPP (NVMe), or empty: another plug-in, paths not reported.")
    paths_working: int
    paths_available: int
    paths_io: int | None
    paths_total: int
    targets: int
    verdict: Verdict
    explanation: str


class PathRow(_Open):
    runtime_name: str
    hba: str
    target: str = Field(description="Target port WWPN (FC) or IQN.")
    target_node: str = Field(description="Target node WWN; empty while the collector does not read it.")
    port_name: str = Field(description="The array's name for the port, where known; else empty.")
    lun: str
    lun_display: str
    state: str
    available: bool
    io: bool | None = Field(description="Carrying I/O now (isWorkingPath); null when vSphere does not say.")
    status: str = Field(description="As the vSphere Client says it: Active (I/O), Active, Standby, Disabled, Dead.")
    path_selection_policy: str


class HostDetail(HostRow):
    maintenance: bool
    quarantine: bool = Field(default=False, description="runtime.inQuarantineMode: Proactive HA keeps VMs off it.")
    proactive_ha: dict[str, Any] | None = Field(
        default=None, description="Remediation mode proactive-ha: the storage health vsguesttruth reports for the "
                                  "host (status, info_id, remediation, why) and what vCenter holds of it (held).")
    hbas: list[dict[str, Any]]
    luns: list[dict[str, Any]]
    badges: list[HostBadge]
    adapters: list[Adapter]
    devices: list[Device]
    paths: list[PathRow]
    vms: list[VmRow] = Field(description="The VMs on the host.")  # type: ignore[assignment]


class UsingVm(BaseModel):
    moref: str
    name: str
    host: str
    host_moref: str
    verdict: Verdict
    disks: list[str]


class LunRow(_Open):
    canonical_name: str
    display_name: str
    vendor: str
    model: str
    capacity_bytes: int
    local: bool
    datastores: list[str]
    hosts: int
    paths_working: int
    paths_total: int
    verdict: Verdict = Field(description="Worst from any host that sees it.")
    disks: int


class LunHost(BaseModel):
    host: str
    host_moref: str
    verdict: Verdict
    explanation: str
    paths_working: int
    paths_total: int
    paths: list[PathRow]


class LunDetail(LunRow):
    per_host: list[LunHost]
    targets: list[str]
    vms: list[UsingVm]


class DatastoreRow(_Open):
    moref: str
    name: str
    kind: str
    url: str
    remote: str
    capacity_bytes: int
    free_bytes: int
    extents: list[str]
    hosts: int
    accessible_on: int
    disks: int
    verdict: Verdict = Field(description="Worst of the disks on it.")


class DatastoreMount(BaseModel):
    host: str
    host_moref: str
    mounted: bool
    accessible: bool
    reason: str


class DatastoreDetail(DatastoreRow):
    mounts: list[DatastoreMount]
    vms: list[UsingVm]


class TargetRow(_Open):
    target: str = Field(description="Target port WWPN (FC) or IQN.")
    port_name: str
    node_name: str
    hosts: int
    luns: int
    paths_working: int
    paths_total: int
    paths_dead: int
    disks: int


class HostPathRow(PathRow):
    host: str
    host_moref: str


class TargetDetail(TargetRow):
    paths: list[HostPathRow]
    host_list: list[dict[str, str]]
    lun_list: list[str]
    vms: list[UsingVm]


class LunPage(Paged):
    items: list[LunRow]


class DatastorePage(Paged):
    items: list[DatastoreRow]


class TargetPage(Paged):
    items: list[TargetRow]
