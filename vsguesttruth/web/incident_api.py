"""The incident routes of the JSON API (``/api/v1``): incidents (paged, filtered, sorted), one incident with its
hits and what the service did, the timeline of incidents and actions, the audit's findings, and what-if.

Same conventions as :mod:`.api`: authenticated by the gate before any body, typed answers
(:mod:`.incident_schemas`), ``{"error": ...}`` errors, lists paged on the server (:mod:`.listing`); unknown
query parameters are refused by the app. Without an incident source (a server that watches no lifecycle) the
routes answer 501.
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, HTTPException, Query

from vsguesttruth.incidents import KINDS
from vsguesttruth.incidents.audit import KINDS as FINDING_KINDS
from vsguesttruth.incidents.whatif import KINDS as FAILURES
from vsguesttruth.incidents.whatif import Failure, WhatIfError, what_if

from . import incident_schemas as s
from . import schemas
from .incident_views import FINDING_COLUMNS, INCIDENT_COLUMNS, IncidentViews
from .listing import DEFAULT_LIMIT, MAX_LIMIT, ListError, page
from .pages import Pages


COMPACT = 5  # entries of each list a compact row keeps
LISTS = ("hosts", "clusters", "vms", "disks", "luns", "datastores")


def cut(row: dict) -> dict:
    """``row`` with its lists cut to the first few (its counts say how many there are)."""
    return {**row, **{k: row[k][:COMPACT] for k in LISTS if k in row}}


def router(pages: Pages, who: Callable, *, plan: Callable | None = None) -> APIRouter:
    """The incident routes on ``pages`` (whose ``incidents`` is the service's lifecycle); ``who`` authenticates
    (the API's dependency); ``plan(inventory, vm)``: remediation's decision for one VM (the advice shown)."""
    api = APIRouter(prefix="/api/v1")

    def ready(version: int | None = None) -> IncidentViews:
        if pages.incidents is None:
            raise HTTPException(501, {"error": "incidents not available on this server", "available": False})
        found = pages.incident_views(version)
        if found is None:
            raise HTTPException(503, {"error": "no inventory from vCenter yet", "ready": False})
        return found

    def listed(rows: list[dict], columns: Any, sort: str, q: str, offset: int, limit: int,
               where: Callable[[dict], bool] | None = None) -> tuple[list[dict], int]:
        try:
            return page(rows, columns, sort=sort, q=q, offset=offset, limit=limit, where=where)
        except ListError as err:
            raise HTTPException(422, {"error": f"invalid request: {err}", "field": err.field}) from None

    def known(values: list[str], allowed: tuple[str, ...], field: str) -> None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise HTTPException(422, {"error": f"unknown {field} {bad[0]!r}; known: {', '.join(allowed)}", "field": field})

    events = pages.incident_events

    q_search = Query(default="", max_length=200, description="Search: matched anywhere in the row's text.")
    q_sort = Query(default="", description="Column to sort by; prefix - for descending.")
    q_offset = Query(default=0, ge=0, description="Rows to skip.")
    q_version = Query(default=None, ge=0, description="Answer from this inventory version (the one /changes told of) "
                                                      "while the server keeps it; else from the latest.")
    q_limit = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page.")
    q_compact = Query(default=False, description=f"Each row's lists (hosts, VMs, disks, LUNs, datastores) cut to the "
                                                 f"first {COMPACT}; the counts stay whole (what a page shows: one "
                                                 "target port of a big SAN hits thousands of VMs).")

    @api.get("/incidents", tags=["incidents"], operation_id="listIncidents", response_model=s.IncidentPage,
             responses=schemas.errors(501))
    def incidents(
        state: list[str] = Query(default=[], description="Only these states: open, resolved (repeatable)."),
        kind: list[str] = Query(default=[], description=f"Only these kinds: {', '.join(KINDS)} (repeatable)."),
        host: str | None = Query(default=None, description="Only incidents on this host (name)."),
        vm: str | None = Query(default=None, description="Only incidents that hit this VM (name or moref)."),
        cluster: str | None = Query(default=None, description="Only incidents in this cluster."),
        q: str = q_search, sort: str = q_sort, offset: int = q_offset, limit: int = q_limit,
        compact: bool = q_compact, version: int | None = q_version,
        hits: bool = Query(default=False, description="Each open incident's row with every disk it hit and what the "
                                                      "service did (`hits`, `actions`, as one incident gives them): "
                                                      "what `vsguesttruth incidents` prints, in one request."),
        principal: Any = Depends(who),
    ) -> dict:
        """Every incident the service knows, open ones first then the newest (sort: state, since, kind, disks,
        vms, hosts, duration, worst): the failed component, since when, what it hits."""
        known(state, ("open", "resolved"), "state")
        known(kind, KINDS, "kind")
        views = ready(version)

        def where(r: dict) -> bool:
            return ((not state or r["state"] in state) and (not kind or r["kind"] in kind)
                    and (host is None or host in r["hosts"]) and (cluster is None or cluster in r["clusters"])
                    and (vm is None or vm in r["vms"] or vm in views.hit(r["id"])))  # name or moref

        items, matched = listed(views.rows, INCIDENT_COLUMNS, sort, q, offset, limit, where)
        if items:
            said = events()
            items = [{**(cut(r) if compact else r), "done": views.done(views.state.find(r["id"]), said)} for r in items]
            if hits:
                items = [{**r, **{k: v for k, v in views.detail(found, said, None).items() if k in ("hits", "actions")}}
                         if r["state"] == "open" and (found := views.state.find(r["id"])) is not None else r
                         for r in items]
        return {"version": pages.version, "incidents_version": views.state.version, "total": len(views.rows),
                "matched": matched, "offset": offset, "limit": limit, "sort": sort or INCIDENT_COLUMNS.default,
                "counts": views.counts, "items": items}

    @api.get("/incidents/timeline", tags=["incidents"], operation_id="getIncidentTimeline", response_model=s.Timeline,
             responses=schemas.errors(501))
    def timeline(limit: int = Query(default=200, ge=1, le=2000, description="The newest this many."),
                 version: int | None = q_version, principal: Any = Depends(who)) -> dict:
        """Incidents opening and resolving, and what the service did about the VMs they hit, newest last."""
        views = ready(version)
        return {"incidents_version": views.state.version, "items": pages.timeline(views, limit)}

    @api.get("/incidents/{incident}", tags=["incidents"], operation_id="getIncident", response_model=s.IncidentDetail,
             responses=schemas.errors(404, 501))
    def incident(incident: str, principal: Any = Depends(who)) -> dict:
        """One incident: every disk it hit (verdict when hit, verdict now), its hosts, its evidence, what the
        service did (moves, advice, refusals, from its vCenter events) and what remediation would do now."""
        views = ready()
        found = views.state.find(incident)
        if found is None:
            raise HTTPException(404, f"no incident {incident!r} (resolved ones are kept for a day)")
        decide = (lambda vm: plan(views.inv, vm)) if plan is not None else None
        return views.detail(found, events(), decide)

    @api.get("/audit", tags=["incidents"], operation_id="listSinglePointsOfFailure", response_model=s.FindingPage,
             responses=schemas.errors(501))
    def audit(kind: list[str] = Query(default=[], description=f"Only these kinds: {', '.join(FINDING_KINDS)}."),
              cluster: str | None = Query(default=None, description="Only findings in this cluster."),
              q: str = q_search, sort: str = q_sort, offset: int = q_offset, limit: int = q_limit,
              compact: bool = q_compact, principal: Any = Depends(who)) -> dict:
        """Single points of failure of the disks healthy now, the most disks one failure would hit first (sort:
        disks, vms, kind, component)."""
        known(kind, FINDING_KINDS, "kind")
        views = ready()
        items, matched = listed(views.finding_rows, FINDING_COLUMNS, sort, q, offset, limit, lambda r: (
            (not kind or r["kind"] in kind) and (cluster is None or cluster in r["clusters"])))
        if compact:
            items = [cut(r) for r in items]
        return {"version": pages.version, "total": len(views.finding_rows), "matched": matched, "offset": offset,
                "limit": limit, "sort": sort or FINDING_COLUMNS.default, "counts": views.finding_counts, "items": items}

    @api.get("/what-if", tags=["incidents"], operation_id="whatIf", response_model=s.WhatIfAnswer,
             responses=schemas.errors(404, 501))
    def whatif(
        failure: str = Query(description=f"What fails: {', '.join(FAILURES)}."),
        ref: str = Query(max_length=200, description="The host (hba, host), target WWPN or port name, controller, "
                                                     "fabric, or LUN (canonical name, display name, datastore)."),
        hba: str = Query(default="", max_length=64, description="The HBA device (failure hba)."),
        lun_state: str = Query(default="", description="pdl or apd (failure lun)."),
        offset: int = q_offset, limit: int = q_limit,
        principal: Any = Depends(who),
    ) -> dict:
        """What one failure would do, applied to the model (never to vCenter): the disks whose verdict changes (one
        page), the incident it opens, what remediation would move where and what it could not (the same planner
        as the service), the guard rails beside the plan, the hosts a storage health provider would report."""
        known([failure], FAILURES, "failure")
        if failure == "lun":
            known([lun_state], ("pdl", "apd"), "lun_state")
        views = ready()
        config = pages.incidents.remediation  # type: ignore[union-attr]
        try:
            answer = what_if(views.inv, Failure(failure, ref, hba, lun_state), config, level=pages.level,
                             level_of=lambda vm: pages.level_of(vm)[0], replicas=pages.incidents.replicas())  # type: ignore[union-attr]
        except WhatIfError as err:
            raise HTTPException(404, str(err)) from None
        out = answer.as_dict()
        out["failure"] = {k: str(v) for k, v in out["failure"].items()}
        out["disks"] = out["disks"][offset:offset + limit]
        return {**out, "offset": offset, "limit": limit}

    return api
