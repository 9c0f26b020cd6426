"""The documented shapes of incidents, single points of failure and what-if answers (pydantic): what
``/api/v1/incidents``, ``/api/v1/audit`` and ``/api/v1/what-if`` send."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from vsguesttruth.incidents import KINDS
from vsguesttruth.incidents.audit import KINDS as FINDING_KINDS
from vsguesttruth.truth import Verdict

from .schemas import Paged, _Open

IncidentKind = Literal[KINDS]  # type: ignore[valid-type]
FindingKind = Literal[FINDING_KINDS]  # type: ignore[valid-type]


class IncidentRow(_Open):
    id: str = Field(description="Stable: the kind and a digest of the component and its start (`target-5e1f0c2a9d`).")
    state: Literal["open", "resolved"]
    kind: IncidentKind  # type: ignore[valid-type]
    component: str = Field(description='How people call it: "target 52:4a:..:10 (A-ctl0-p0)", "vmhba2 on esx-a01".')
    key: str = Field(description="The component's identity: `target:<wwpn>`, `hba:<host moref>/vmhba2`, `fabric:A`.")
    cause: str = Field(description="dead, offline, disabled, pdl, failed, apd, impaired, no_path, inaccessible, "
                                   "not_mounted, disconnected, notResponding.")
    line: str
    since: str = Field(description="When it started (ISO 8601): the hosts' storage events, else when the watch saw it.")
    since_from: Literal["events", "watch"]
    resolved_at: str | None
    duration_s: float | None
    merged_into: str = Field(description="Resolved because this larger incident now explains its evidence.")
    hosts: list[str]
    clusters: list[str]
    luns: list[str]
    datastores: list[str]
    detail: dict[str, Any] = Field(description="target, port_name, controller, fabric, hba, host, lun where they apply.")
    paths: int
    evidence: int
    host_count: int
    vm_count: int
    disk_count: int
    vms: list[str]
    worst: Verdict = Field(description="The worst verdict among the disks it hit (when hit).")
    done: str = Field(default="", description='What the service did about the VMs it hit, in the list: "moved '
                                              'web01, app01; advice db01" (empty: nothing yet).')


class IncidentCounts(BaseModel):
    open: int
    resolved: int
    open_by_kind: dict[str, int]


class IncidentPage(Paged):
    counts: IncidentCounts
    incidents_version: int = Field(description="Grows when an incident opens, resolves or changes.")
    items: list[IncidentRow]


class IncidentHit(_Open):
    vm: str
    vm_moref: str
    key: int
    disk: str
    host: str = Field(description="The host the VM ran on when hit.")
    host_moref: str
    cluster: str
    verdict_when_hit: Verdict | None
    verdict: Verdict | None = Field(description="The disk's verdict now (null: the disk is gone).")
    host_now: str | None
    explanation: str


class Symptom(BaseModel):
    kind: str = Field(description="path, no_path, hba, lost, impaired, mount, host.")
    host: str
    what: str
    lun: str
    state: str


class IncidentAction(_Open):
    time: str
    kind: Literal["moved", "moving", "failed", "advice", "held", "refused", "incident", "answered", "note"]
    vm: str
    vm_name: str
    message: str


class IncidentHost(BaseModel):
    name: str
    moref: str
    disks: int


class IncidentDetail(IncidentRow):
    hits: list[IncidentHit]
    host_list: list[IncidentHost]
    evidence_items: list[Symptom] = Field(description="The evidence it explains (the first 500).")
    evidence_total: int
    actions: list[IncidentAction] = Field(description="What the service did about the VMs it hit, from its vCenter events.")
    advice: list[dict[str, Any]] = Field(description="What remediation would do now about each VM it hits (open only).")


class TimelineItem(BaseModel):
    time: str
    kind: Literal["opened", "resolved", "moved", "moving", "failed", "advice", "held", "refused", "incident", "answered", "note"]
    incident: str
    incident_kind: str
    message: str
    vm: str
    vm_name: str


class Timeline(BaseModel):
    incidents_version: int
    items: list[TimelineItem] = Field(description="Newest last.")


class FindingDisk(BaseModel):
    vm: str
    vm_moref: str
    key: int
    disk: str
    host: str


class FindingRow(BaseModel):
    kind: FindingKind  # type: ignore[valid-type]
    key: str
    component: str
    why: str
    disk_count: int
    vm_count: int
    vms: list[str]
    disks: list[FindingDisk]
    hosts: list[str]
    clusters: list[str]
    datastores: list[str]
    luns: list[str]


class FindingPage(Paged):
    counts: dict[str, int] = Field(description="Findings per kind (of every finding).")
    items: list[FindingRow]


class WhatIfDisk(BaseModel):
    vm: str
    vm_moref: str
    key: int
    disk: str
    host: str
    before: Verdict | None
    after: Verdict | None
    explanation: str


class WhatIfAnswer(_Open):
    failure: dict[str, str]
    description: str
    counts: dict[str, int]
    disk_count: int
    vm_count: int
    hosts: list[str]
    offset: int
    limit: int
    disks: list[WhatIfDisk] = Field(description="One page of the disks whose verdict changes.")
    incidents: list[dict[str, Any]] = Field(description="The incidents the failure would open.")
    moves: list[dict[str, Any]]
    refusals: list[dict[str, Any]]
    rails: dict[str, Any] = Field(description="The guard rails beside the plan (hysteresis, budget, cooldowns), not applied.")
    proactive_ha: dict[str, Any] = Field(description="`mode`: the proactive-ha remediation mode is on; `unhealthy_hosts`: "
                                         "[{host, health}], the hosts the failure would newly have reported red or "
                                         "yellow to Proactive HA.")
    notes: list[str]
