"""The JSON API's documented shapes (pydantic): what every route answers, errors included, so ``/openapi.json``
says what the server really sends. Objects that mirror the model or the truth (paths, LUNs, disks) allow
extra fields: a field the collector learns (ALUA state, path selection policy) passes through before this
file names it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vsguesttruth.truth import Advice, Verdict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    """Every error: ``{"error": "one line saying what is wrong and what to do"}``, sometimes with details."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"error": "no VM named 'web99'"}})
    error: str = Field(description="One line: what is wrong, and what to do.")


class FieldError(Error):
    field: str | None = Field(default=None, description="The parameter or body field at fault (422).")


class Ambiguous(Error):
    candidates: list[dict[str, str]] = Field(description="Every object of that name: moref, name, host.")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route (FastAPI's own 422 shape is never sent, so never documented)."""
    words = {400: "Bad request.", 401: "No or bad credentials.", 403: "Authenticated, but not allowed.",
             404: "No such object.", 409: "Refused: see the error.", 413: "Body too large.",
             422: "Invalid parameter or body field (unknown fields are refused).", 429: "Too many session checks.",
             501: "Remediation is not available on this server.", 502: "vCenter failed the move.",
             503: "No inventory from vCenter yet."}
    models = {404: Ambiguous, 409: Ambiguous, 422: FieldError}
    out: dict[int | str, dict[str, Any]] = {}
    for code in (401, 403, 422, 429, 503, *codes):
        out[code] = {"model": models.get(code, Error), "description": words[code]}
    return out


# -- about, health ------------------------------------------------------------------------------------

class Health(BaseModel):
    ok: bool
    version: str


class Ready(BaseModel):
    ready: bool
    version: int
    error: str
    role: Literal["active", "passive"] | None = Field(default=None, description="serve's role under the "
                                                      "single-instance lease (passive: standing by, read-only).")
    holder: str | None = Field(default=None, description="The instance holding the lease.")


class Role(BaseModel):
    """``vsguesttruth serve``'s role: one instance acts (holds the lease in vCenter), others stand by."""
    role: Literal["active", "passive"]
    holder: str = Field(description="The instance holding the lease (host and pid), \"\" when not known yet.")


class Vcenter(BaseModel):
    instance_uuid: str = Field(description="ServiceContent.about.instanceUuid: the serverGuid in vSphere Client object ids.")
    name: str
    full_name: str = ""
    api_version: str = ""
    api_type: str = ""


class About(BaseModel):
    version: str = Field(description="vsguesttruth's version.")
    vcenter: Vcenter | None = Field(description="The vCenter this service watches (null while it cannot be reached).")
    inventory_version: int
    updated_at: float
    error: str
    features: dict[str, bool] = Field(description="remediation, migrate, events, incidents.")
    role: Role | None = Field(default=None, description="serve's role under the single-instance lease.")


class WhoAmI(BaseModel):
    name: str
    kind: Literal["token", "session"]
    scope: Literal["read", "write"]
    remediation: bool
    migrate: bool
    role: Literal["active", "passive"] | None = None
    holder: str | None = None


# -- disks ---------------------------------------------------------------------------------------------

class DiskRecord(_Open):
    vm: str
    vm_moref: str
    disk: str
    key: int
    host: str
    host_moref: str
    controller: str
    bus: int
    unit: int
    uuid: str
    backing: str
    capacity_bytes: int = 0
    datastores: list[str]
    datastore_morefs: list[str] = []
    luns: list[str]
    targets: list[str] = Field(default=[], description="Target ports (WWPN/IQN) of the disk's paths on its host.")
    verdict: Verdict
    advice: Advice
    explanation: str
    sla_met: bool = Field(default=True, description="Within the service level its VM is judged by.")
    level: str = Field(default="", description='The level and whether it is met: "level 2 paths per LUN: met".')
    incidents: list[str] = Field(default=[], description="The open incidents behind the disk's verdict (ids).")


Counts = dict[str, int]


class HostBadge(BaseModel):
    verdict: Verdict
    count: int
    of: int
    text: str = Field(description='"1 of 7 LUNs in APD", "vmhba2 offline", "disconnected".')


class HostRow(_Open):
    moref: str
    name: str
    cluster: str
    connection_state: str
    verdict: Verdict = Field(description="Worst LUN from this host (kept for compatibility; pages show badges).")
    line: str
    hbas_online: int = Field(description="SAN adapters (FC, iSCSI) online.")
    hbas_total: int = Field(description="SAN adapters (FC, iSCSI).")
    local_adapters: int = Field(default=0, description="Local adapters (SAS, SATA/IDE, PVSCSI, local NVMe): "
                                "ESXi reports their status unknown, which is normal.")
    luns_ok: int = Field(description="LUNs whose own state is ok and that this host reaches.")
    luns_unreachable: int = Field(default=0, description="LUNs whose state is ok but this host does not reach.")
    luns_total: int
    paths_working: int = Field(description="The older name of paths_available.")
    paths_available: int = 0
    paths_io: int | None = Field(default=None, description="Paths carrying I/O; null when vSphere does not say.")
    paths_total: int
    badges: list[HostBadge] = []
    vms: int = 0


class Status(BaseModel):
    version: int
    updated_at: float
    error: str
    role: Role | None = None
    counts: Counts
    total: int
    disks: list[DiskRecord]
    hosts: list[HostRow]


class Paged(BaseModel):
    version: int = Field(description="The inventory version the page was cut from.")
    total: int = Field(description="Rows before filters.")
    matched: int = Field(description="Rows the filters and search matched.")
    offset: int
    limit: int
    sort: str


class DiskPage(Paged):
    counts: Counts = Field(description="Disks per verdict, of every disk (the tiles).")
    items: list[DiskRecord]


class HostList(BaseModel):
    version: int = 0
    total: int = 0
    matched: int = 0
    hosts: list[HostRow]


class VmRow(_Open):
    moref: str
    name: str
    host: str
    cluster: str
    power_state: str
    verdict: Verdict
    explanation: str
    disks: int
    sla_met: bool = Field(default=True, description="Meets the service level it is judged by.")
    level: str = Field(default="", description="Which level, met or by how much: \"level 2 paths per LUN: met\".")


class VmList(BaseModel):
    version: int = 0
    total: int = 0
    matched: int = 0
    vms: list[VmRow]


class ListPage(Paged):
    items: list[dict[str, Any]]


# -- live updates, events, remediation -------------------------------------------------------------

class Changes(BaseModel):
    version: int
    updated_at: float
    error: str
    role: Role | None = None
    reset: bool = Field(description="The feed no longer holds the version asked after: fetch what you show again.")
    counts: Counts
    disks: list[DiskRecord] = Field(description="Disks whose verdict or explanation changed, as they are now.")
    removed_disks: list[str] = Field(description="Disks gone, as vm-moref:device-key.")
    hosts: list[HostRow] = Field(description="Hosts whose summary or badges changed.")
    removed_hosts: list[str]
    vms: list[str] = Field(description="Morefs of VMs with a changed disk.")
    changed_disks: int = Field(default=0, description="Disks changed or gone (all of them, when the lists are cut).")
    changed_hosts: int = Field(default=0, description="Hosts changed or gone (all of them, when the lists are cut).")
    truncated: bool = Field(default=False, description="More changed than `limit`: the lists hold the first ones; "
                                                       "fetch what you show again.")
    incidents_version: int | None = Field(default=None, description="The incident state's version (null: this "
                                                                    "server keeps no incidents).")


class Event(BaseModel):
    time: str
    vm: str
    vm_name: str
    message: str
    user: str
    key: int
    kind: Literal["moved", "moving", "failed", "advice", "held", "refused", "incident", "answered", "note"]


class Events(BaseModel):
    available: bool = Field(description="False when this server reads no vCenter events.")
    events: list[Event] = Field(description="Newest last.")


class Decision(_Open):
    vm: str
    vm_name: str
    action: Literal["vmotion", "relocate_to_replica", "storage_vmotion", "none"]
    verdict: Verdict
    trigger: str
    why: str
    from_host: str
    from_host_name: str
    to_host: str
    to_host_name: str
    to_datastore: str
    to_datastore_name: str
    moves: bool


class PlannedMove(Decision):
    to: str = ""
    reason: str = ""


class PlanAnswer(_Open):
    mode: str = ""
    moves: list[PlannedMove]
    refusals: list[PlannedMove]


class MigrateResult(_Open):
    moved: bool = False
    dry_run: bool = False
    message: str = ""
    outcome: str = ""
    decision: dict[str, Any] | None = None
