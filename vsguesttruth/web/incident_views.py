"""What the pages, the API and /metrics show of incidents and single points of failure, built once per (incident
state, inventory) version and shared by every request and scrape.

The incidents are the service's (its :class:`~vsguesttruth.incidents.IncidentController`: the lifecycle, since,
ids); each hit is shown with the verdict it had when hit and the verdict its disk has now (the pages' own
truth of the same inventory). The audit and what-if are the incidents core's, judged by the truth of the
inventory the pages show. Pure: no I/O (the service's events come in as plain dicts).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from operator import attrgetter
from typing import Any, Callable, Mapping

from vsguesttruth.config import AuditConfig, RemediationConfig
from vsguesttruth.incidents import KINDS, Incident, IncidentState
from vsguesttruth.incidents.actions import actions, summary
from vsguesttruth.incidents.audit import KINDS as FINDING_KINDS
from vsguesttruth.incidents.audit import Finding, audit
from vsguesttruth.model import Inventory

from .listing import Columns
from .views import SEVERITY, Views

STATE_ORDER = {"open": 0, "resolved": 1}
#: /metrics families of incidents and single points of failure: name -> help
METRIC_FAMILIES = {
    "vsguesttruth_incidents_open": "Open incidents, by kind (path, hba, target, controller, lun, datastore, fabric, host).",
    "vsguesttruth_incident_open": "1 for each open incident: its id, kind, cause, component and start.",
    "vsguesttruth_incident_disks": "Virtual disks each open incident hits (or hit while open).",
    "vsguesttruth_incident_host": "Disks each open incident hits on each host it shows on (0: evidence, no disk).",
    "vsguesttruth_incident_vm": "Disks each open incident hits of each VM.",
    "vsguesttruth_incident_datastore": "1 for each datastore an open incident reaches.",
    "vsguesttruth_spof_findings": "Single points of failure of healthy disks, by kind.",
    "vsguesttruth_spof_disks": "Healthy disks one failure of the finding's component would hit, per cluster.",
    "vsguesttruth_spof_datastore": "1 for each datastore a single point of failure exposes.",
}
_VERDICT, _VM = attrgetter("verdict"), attrgetter("vm")
EVIDENCE_SHOWN = 500  # symptoms listed in one incident's detail (a fabric has thousands of dead paths)


@dataclass(frozen=True)
class IncidentSource:
    """What the plugin server reads of the service's incidents: its lifecycle (``state()``), and the config the
    audit and what-if judge by (``replicas()``: custom attribute pairs read by remediation)."""

    state: Callable[[], IncidentState]
    remediation: RemediationConfig = field(default_factory=RemediationConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    replicas: Callable[[], Mapping[str, str]] = dict


#: IncidentViews' cached properties that read the incident state only (not the inventory)
_STATE_ONLY = ("rows", "counts", "_by_id")


@dataclass(slots=True)
class _Worked:
    """What is worked out of one incident alone, kept while the lifecycle keeps it as the same object (it makes a
    new one only when the incident changed): its row, the VMs it hit, its lines on the timeline, and what the
    service did about it by one reading of the service's events."""

    incident: Incident
    row: dict
    vms: frozenset[str]
    marks: list[dict]
    done: tuple[list[dict], str] | None = None  # (the events read, what was done)


class IncidentViews:
    """The incidents and findings of one incident state and one inventory (thread-safe: built once, then read).

    A new incident state (every change of the lifecycle) or inventory makes new views; what each incident alone
    gives is taken over from the ``previous`` views for the incidents that did not change, so the work of an
    incident change is the changed incidents', not the thousands of VMs the others hit."""

    def __init__(self, state: IncidentState, inv: Inventory, views: Views, level: Any, source: IncidentSource,
                 previous: "IncidentViews | None" = None) -> None:
        self.state = state
        self.inv = inv
        self.views = views
        self.level = level
        self.source = source
        self.now = state.updated or datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._timeline: dict[int, tuple[list[dict], list[dict]]] = {}  # limit -> (the events read, the items)
        self._memo: dict[int, _Worked] = previous._memo if previous is not None else {}  # id(incident) ->
        if previous is not None and previous.state is state:
            # a new inventory, the same incidents: what depends on the incidents alone is taken over
            for name in _STATE_ONLY:
                if name in previous.__dict__:
                    self.__dict__[name] = previous.__dict__[name]
            self._timeline = previous._timeline

    def warm(self, events: list[dict] | None = None, limits: tuple[int, ...] = ()) -> None:
        """Build what a page fetches after an incident change: the rows, the counts, and the timeline of each
        of ``limits`` by the reading ``events``."""
        self.rows, self.counts  # noqa: B018 - cached properties: built once, by the first to ask
        for limit in limits if events is not None else ():
            self.timeline(events, limit)

    # -- incidents ------------------------------------------------------------------------------------

    def _disk_now(self, vm: str, key: int) -> dict | None:
        """A disk's record as judged now (only its VM judged, unless every VM's is built already)."""
        return next((d for d in self.views.disks_of(vm) if d["key"] == key), None)

    def row(self, i: Incident) -> dict:
        out = i.as_dict(self.now)
        out["since_ts"] = i.since.timestamp()
        out["resolved_ts"] = i.resolved_at.timestamp() if i.resolved_at else None
        verdicts = set(map(_VERDICT, i.hits))  # a few distinct ones of tens of thousands of hits
        worst = max((SEVERITY[v.value] for v in verdicts if v is not None), default=0)
        out["worst"] = next((v for v, s in SEVERITY.items() if s == worst), "healthy")
        return out

    def _worked(self, i: Incident) -> _Worked:
        """What ``i`` alone gives, worked out once per incident object."""
        found = self._memo.get(id(i))
        if found is None or found.incident is not i:
            row = self.row(i)
            marks = [{"time": i.since.isoformat(), "kind": "opened", "incident": i.id, "incident_kind": i.kind.value,
                      "message": f"incident {i.id} opened: {row['line']}", "vm": "", "vm_name": ""}]
            if i.resolved_at is not None:
                marks.append({"time": i.resolved_at.isoformat(), "kind": "resolved", "incident": i.id,
                              "incident_kind": i.kind.value, "message": f"incident {i.id} resolved: {row['line']}",
                              "vm": "", "vm_name": ""})
            found = self._memo[id(i)] = _Worked(i, row, frozenset(map(_VM, i.hits)), marks)
        return found

    @cached_property
    def rows(self) -> list[dict]:
        out = []
        for i in self.state.incidents:
            row = self._worked(i).row
            out.append(row if not i.open else {**row, "duration_s": round(i.duration(self.now).total_seconds(), 1)})
        memo = self._memo
        if len(memo) > 2 * len(self.state.incidents) + 16:
            alive = {id(i) for i in self.state.incidents}
            for key in [k for k in list(memo) if k not in alive]:  # another request may add meanwhile
                memo.pop(key, None)
        return out

    @cached_property
    def counts(self) -> dict[str, Any]:
        open_rows = [r for r in self.rows if r["state"] == "open"]
        by_kind = dict.fromkeys(KINDS, 0)
        for r in open_rows:
            by_kind[r["kind"]] += 1
        return {"open": len(open_rows), "resolved": len(self.rows) - len(open_rows), "open_by_kind": by_kind}

    @cached_property
    def _by_id(self) -> dict[str, Incident]:
        return {i.id: i for i in self.state.incidents}

    def find(self, incident_id: str) -> Incident | None:
        return self._by_id.get(incident_id)

    def hit(self, incident_id: str) -> frozenset[str]:
        """The morefs of the VMs the incident ``incident_id`` hit."""
        found = self.find(incident_id)
        return self._worked(found).vms if found is not None else frozenset()

    def detail(self, incident: Incident, events: list[dict], plan: Callable[[str], Any] | None) -> dict:
        """One incident: its row, every disk it hit (verdict when hit, verdict now), its evidence, what the
        service did (its events on the VMs hit while it was open), and what remediation would do now."""
        out = self.row(incident)
        hits = []
        for h in incident.hits:
            now = self._disk_now(h.vm, h.key)
            hits.append({**h.as_dict(), "verdict_when_hit": h.verdict.value if h.verdict else None,
                         "verdict": now["verdict"] if now else None, "explanation": now["explanation"] if now else
                         h.explanation, "host_now": now["host"] if now else None})
        out["hits"] = hits
        by_host: Counter[str] = Counter(h.host_name for h in incident.hits)
        out["host_list"] = [{"name": name, "moref": moref, "disks": by_host.get(name, 0)}
                            for name, moref in zip(incident.failure.host_names, incident.failure.hosts)]
        out["evidence_items"] = [s.as_dict() for s in incident.failure.symptoms[:EVIDENCE_SHOWN]]
        out["evidence_total"] = len(incident.failure.symptoms)
        out["actions"] = actions(incident, events, self.now, self._worked(incident).vms)
        advice = []
        if plan is not None and incident.open:
            for vm in dict.fromkeys(h.vm for h in incident.hits):
                if vm in self.inv.vms:
                    decided = plan(vm)
                    advice.append(decided.as_dict() if hasattr(decided, "as_dict") else decided)
        out["advice"] = advice
        out["merged_into"] = incident.merged_into
        return out

    def done(self, incident: Incident | None, events: list[dict]) -> str:
        """What the service did about the VMs ``incident`` hit, in a few words (empty: nothing yet); worked out
        once per incident and reading of the events (the source keeps a reading a few seconds)."""
        if incident is None:
            return ""
        worked = self._worked(incident)
        kept = worked.done
        if kept is not None and kept[0] is events:
            return kept[1]
        said = summary(actions(incident, events, self.now, worked.vms))
        worked.done = (events, said)
        return said

    def timeline(self, events: list[dict], limit: int) -> list[dict]:
        """Incidents opening and resolving, and the service's actions, newest last; worked out once per incident
        state and reading of the events (every open page asks on every change and every few seconds)."""
        kept = self._timeline.get(limit)
        if kept is not None and kept[0] is events:
            return kept[1]
        items = self._timeline_items(events)[-limit:]
        if len(self._timeline) >= 8:  # a few limits are asked for
            self._timeline.clear()
        self._timeline[limit] = (events, items)
        return items

    def _timeline_items(self, events: list[dict]) -> list[dict]:
        items = []
        # an incident a larger one took over (the paths of a port seen dead before the port itself) is told on the
        # larger one's line: a port's failure on 30 hosts is one line, not 30 openings and 30 resolutions
        known = {i.id for i in self.state.incidents}
        taken: dict[str, int] = {}
        for i in self.state.incidents:
            if i.merged_into in known:
                taken[i.merged_into] = taken.get(i.merged_into, 0) + 1
        for i in self.state.incidents:  # each incident's lines: made once per incident
            if i.merged_into in known:
                continue
            marks = self._worked(i).marks
            if i.id in taken:
                n = taken[i.id]
                marks = [{**marks[0], "message": f"{marks[0]['message']} (took over {n} smaller "
                          f"incident{'s' if n > 1 else ''} it explains)"}, *marks[1:]]
            items.extend(marks)
        # each event goes with the first incident that hit its VM: only the VMs the events name are looked up
        # (a few hundred), each incident's VMs against them (set intersections: no loop over its hits)
        left = {e.get("vm", "") for e in events}
        first: dict[str, Incident] = {}
        for i in self.state.incidents:
            if not left:
                break
            found = left.intersection(self._worked(i).vms)
            if found:
                first.update(dict.fromkeys(found, i))
                left -= found
        by_incident: dict[str, tuple[Incident, list[dict]]] = {}
        for e in events:  # each incident's events together: its hits are looked at once, not once per event
            incident = first.get(e.get("vm", ""))
            if incident is not None:
                by_incident.setdefault(incident.id, (incident, []))[1].append(e)
        for incident, said in by_incident.values():
            for found in actions(incident, said, self.now, self._worked(incident).vms):
                items.append({"time": found["time"], "kind": found["kind"], "incident": incident.id,
                              "incident_kind": incident.kind.value, "message": found["message"],
                              "vm": found.get("vm", ""), "vm_name": found.get("vm_name", "")})
        items.sort(key=lambda x: x["time"])
        return items

    # -- /metrics -------------------------------------------------------------------------------------

    @cached_property
    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """The samples of every incident and audit family (name -> [(labels, value)]), with vmware_exporter's
        label names (``host_name``, ``cluster_name``, ``ds_name``, ``vm_name``) so the two join."""
        out: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in METRIC_FAMILIES}
        for kind, n in self.counts["open_by_kind"].items():
            out["vsguesttruth_incidents_open"].append(({"kind": kind}, n))
        cluster_of = {h.name: h.cluster for h in self.inv.hosts.values()}
        for i in self.state.incidents:
            if not i.open:
                continue
            base = {"id": i.id, "kind": i.kind.value}
            out["vsguesttruth_incident_open"].append(({**base, "cause": i.failure.cause, "component": i.failure.name,
                                                       "since": i.since.isoformat()}, 1))
            out["vsguesttruth_incident_disks"].append((base, len(i.hits)))
            by_host: Counter[str] = Counter(h.host_name for h in i.hits)
            for name in i.failure.host_names:
                out["vsguesttruth_incident_host"].append((
                    {**base, "host_name": name, "cluster_name": cluster_of.get(name, "")}, by_host.get(name, 0)))
            by_vm: Counter[tuple[str, str]] = Counter((h.vm_name, h.host_name) for h in i.hits)
            for (vm, host), n in sorted(by_vm.items()):
                out["vsguesttruth_incident_vm"].append((
                    {**base, "vm_name": vm, "host_name": host, "cluster_name": cluster_of.get(host, "")}, n))
            for ds in i.failure.datastores:
                out["vsguesttruth_incident_datastore"].append(({**base, "ds_name": ds}, 1))
        for kind, n in self.finding_counts.items():
            out["vsguesttruth_spof_findings"].append(({"kind": kind}, n))
        for f in self.findings:
            per_cluster: Counter[str] = Counter(cluster_of.get(d.host, "") for d in f.disks)
            for cluster in sorted(set(per_cluster) | set(f.clusters)):
                out["vsguesttruth_spof_disks"].append((
                    {"kind": f.kind, "key": f.key, "component": f.component, "cluster_name": cluster},
                    per_cluster.get(cluster, 0)))
            for ds in f.datastores:
                out["vsguesttruth_spof_datastore"].append(({"kind": f.kind, "key": f.key, "ds_name": ds}, 1))
        return out

    # -- the audit ------------------------------------------------------------------------------------

    @cached_property
    def findings(self) -> list[Finding]:
        config = self.source
        replicas = {**dict(config.replicas()), **config.remediation.replicas}
        with self.views.lock:
            return audit(self.inv, self.views.ctx, level=self.level, replicas=replicas,
                         replicas_wanted=config.audit.replicas_wanted, allowed_hosts=config.remediation.allowed_hosts)

    @cached_property
    def finding_rows(self) -> list[dict]:
        return [f.as_dict() for f in self.findings]

    @cached_property
    def finding_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(FINDING_KINDS, 0)
        for f in self.findings:
            counts[f.kind] += 1
        return counts


INCIDENT_COLUMNS = Columns(
    keys={"state": lambda r: STATE_ORDER[r["state"]], "since": lambda r: r["since_ts"], "kind": lambda r: r["kind"],
          "disks": lambda r: r["disk_count"], "vms": lambda r: r["vm_count"], "hosts": lambda r: r["host_count"],
          "duration": lambda r: r["duration_s"] or 0, "worst": lambda r: SEVERITY[r["worst"]]},
    default="state", tiebreak=lambda r: (-r["since_ts"], r["id"]),
    text=lambda r: " ".join([r["id"], r["kind"], r["component"], r["cause"], r["line"], *r["hosts"], *r["vms"],
                             *r["datastores"], *r["luns"], *r["clusters"]]))
FINDING_COLUMNS = Columns(
    keys={"disks": lambda r: r["disk_count"], "vms": lambda r: r["vm_count"], "kind": lambda r: r["kind"],
          "component": lambda r: r["component"].lower()},
    default="-disks", tiebreak=lambda r: (FINDING_KINDS.index(r["kind"]), r["key"]),
    text=lambda r: " ".join([r["kind"], r["component"], r["why"], *r["vms"], *r["hosts"], *r["datastores"],
                             *r["luns"], *r["clusters"]]))
