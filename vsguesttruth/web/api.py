"""The JSON API (``/api/v1``): what the plugin's pages and other clients read, and the move action.

Every route is authenticated by the gate (:mod:`.middleware`) before its body is read; every answer has a
pydantic shape (:mod:`.schemas`), every error is ``{"error": ...}``. Objects are named by moref or name; a
name several VMs share is refused with the candidates (409), and a vSphere Client object id
(``urn:vmomi:VirtualMachine:vm-51:<serverGuid>``) of a vCenter this service does not watch gets a 404 that
says so. Lists are filtered, searched, sorted and paged on the server (:mod:`.listing`).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any, Callable

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vsguesttruth import __version__
from vsguesttruth.errors import MoveRefused
from vsguesttruth.incidents.actions import event_kind
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.truth import TruthContext

from . import metrics, schemas, status_body, storage_schemas
from .auth import Auth, Principal
from .listing import DEFAULT_LIMIT, MAX_LIMIT, Columns, ListError, page
from .middleware import UNAUTHENTICATED, principal_of
from .pages import Pages
from .views import (DATASTORE_COLUMNS, DISK_COLUMNS, HOST_COLUMNS, LUN_COLUMNS, TARGET_COLUMNS, VERDICTS, VM_COLUMNS,
                    Views)

MAX_WAIT = 25.0
_URN = re.compile(r"^urn:vmomi:([A-Za-z]+):([^:]+)(?::(.+))?$")

bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `[web] api_tokens_file` (read, or write for moves).")
vsphere_session = APIKeyHeader(name="vmware-api-session-id", auto_error=False, scheme_name="vsphereSession",
                               description="The vSphere Client user's session id (the plugin SDK's sessionToken).")


def who(request: Request, _t: Any = Security(bearer), _s: Any = Security(vsphere_session)) -> Principal:
    """The caller, as the gate authenticated it before the body was read (the schemes document the API)."""
    principal = principal_of(request.scope)
    if principal is None:
        raise HTTPException(401, UNAUTHENTICATED)
    return principal


class MigrateRequest(BaseModel):
    """The body of POST migrate; unknown fields are refused (a typo such as ``dryRun`` must not move a VM)."""

    model_config = ConfigDict(extra="forbid")

    to_host: str | None = Field(default=None, description="Target host (name or moref); without it, exactly what "
                                                          "`GET /plan?vm=` offers for the VM.")
    dry_run: bool = Field(default=False, description="Plan and check only; do not move.")


def router(pages: Pages, auth: Auth, *, plan: Callable | None, migrate: Callable | None,
           closing: threading.Event | None = None, role: Callable[[], dict] | None = None,
           health: Callable[[], dict] | None = None) -> APIRouter:
    """The ``/api/v1`` routes on ``pages`` (the source's inventory, judged and indexed once per version);
    ``closing``: set when the server stops, so long polls answer at once instead of holding the shutdown;
    ``role()``: serve's role under the single-instance lease (``{"role": "active"|"passive", "holder": ...}``);
    ``health()``: in remediation mode proactive-ha, each host's reported storage health by host name."""
    closing = closing or threading.Event()
    source = pages.source
    encoded = status_body.StatusRows()
    warmer = status_body.Warmer(source, lambda: encoded.latest(pages), closing)
    api = APIRouter(prefix="/api/v1")

    def ready(version: int | None = None) -> tuple[Inventory, TruthContext, Views]:
        found = pages.get(version)
        if found is None:
            raise HTTPException(503, {"error": "no inventory from vCenter yet", "ready": False})
        return found

    def vcenter() -> dict | None:
        return getattr(source, "vcenter", None)

    def object_ref(ref: str, kind: str) -> str:
        """A moref or name out of a vSphere Client object id; 404 when the id is of another vCenter."""
        urn = _URN.match(ref)
        if urn is None:
            return ref
        guid, mine = urn.group(3), (vcenter() or {}).get("instance_uuid", "")
        if guid and mine and guid.lower() != mine.lower():
            name = (vcenter() or {}).get("name", "")
            raise HTTPException(404, {"error": f"{urn.group(2)} belongs to vCenter {guid}, which this vsguesttruth "
                                               f"does not watch (it watches {name or 'another vCenter'}, {mine}): "
                                               "register a vsguesttruth service for that vCenter too",
                                      "other_vcenter": guid})
        return urn.group(2)

    def find_vm(inv: Inventory, ref: str) -> Vm:
        ref = object_ref(ref, "VM")
        vm = inv.vms.get(ref)
        if vm is not None:
            return vm
        named = sorted((v for v in inv.vms.values() if v.name == ref), key=lambda v: v.moref)
        if not named:
            raise HTTPException(404, f"no VM named {ref!r}")
        if len(named) > 1:
            hosts = {m: h.name for m, h in inv.hosts.items()}
            candidates = [{"moref": v.moref, "name": v.name, "host": hosts.get(v.host, "")} for v in named]
            raise HTTPException(409, {"error": f"{len(named)} VMs are named {ref!r}: "
                                               + ", ".join(f"{c['moref']} (on {c['host'] or '?'})" for c in candidates)
                                               + "; name one by its moref", "candidates": candidates})
        return named[0]

    def find_host(inv: Inventory, ref: str) -> Any:
        ref = object_ref(ref, "host")
        host = inv.hosts.get(ref) or inv.host_by_name(ref)
        if host is None:
            raise HTTPException(404, f"no host named {ref!r}")
        return host

    def listed(rows: list[dict], columns: Columns, sort: str, q: str, offset: int, limit: int | None,
               where: Callable[[dict], bool] | None = None) -> tuple[list[dict], int]:
        try:
            return page(rows, columns, sort=sort, q=q, offset=offset, limit=limit, where=where)
        except ListError as err:
            raise refused(err) from None

    def refused(err: ListError) -> HTTPException:
        return HTTPException(422, {"error": f"invalid request: {err}", "field": err.field})

    def check_verdicts(verdict: list[str]) -> None:
        bad = [v for v in verdict if v not in VERDICTS]
        if bad:
            raise HTTPException(422, {"error": f"unknown verdict {bad[0]!r}; known: {', '.join(VERDICTS)}",
                                      "field": "verdict"})

    def meta() -> dict:
        return {"version": pages.version, "updated_at": getattr(source, "updated_at", 0.0),
                "error": getattr(source, "error", ""), "role": role() if role is not None else None}

    q_sort = Query(default="", description="Column to sort by; prefix - for descending.")
    q_search = Query(default="", max_length=200, description="Search: matched anywhere in the row's text.")
    q_offset = Query(default=0, ge=0, description="Rows to skip.")
    q_version = Query(default=None, ge=0, description="Answer from this inventory version (the one /changes told of) "
                                                      "while the server keeps it; else from the latest.")

    # -- who, what ------------------------------------------------------------------------------------

    @api.get("/about", tags=["api"], operation_id="getAbout", response_model=schemas.About,
             responses=schemas.errors())
    def about(principal: Principal = Depends(who)) -> dict:
        """Which vCenter this service watches (its instance UUID is the serverGuid in the vSphere Client's
        object ids), the inventory version, and what this server offers."""
        return {"version": __version__, "vcenter": vcenter(), "inventory_version": pages.version,
                "updated_at": getattr(source, "updated_at", 0.0), "error": getattr(source, "error", ""),
                "features": {"remediation": plan is not None, "migrate": migrate is not None,
                             "events": hasattr(source, "events"), "incidents": pages.incidents is not None},
                "role": role() if role is not None else None}

    @api.get("/whoami", tags=["api"], operation_id="whoAmI", response_model=schemas.WhoAmI,
             response_model_exclude_none=True, responses=schemas.errors())
    def whoami(principal: Principal = Depends(who)) -> dict:
        """Who the credentials belong to."""
        return {**principal.as_dict(), "remediation": plan is not None, "migrate": migrate is not None,
                **(role() if role is not None else {})}

    # -- disks ------------------------------------------------------------------------------------------

    @api.get("/status", tags=["api"], operation_id="getStatus", response_model=schemas.Status,
             responses=schemas.errors(404, 409))
    def status(
        verdict: list[str] = Query(default=[], description="Only disks with these verdicts."),
        unhealthy: bool = Query(default=False, description="Only disks that are not healthy."),
        vm: str | None = Query(default=None, description="Only this VM (name or moref)."),
        hosts_too: bool = Query(default=True, alias="hosts", description="With every host's path summary (false: "
                                "`hosts` is empty; with `unhealthy` alone, a running service answers from the "
                                "verdicts its loop holds, judging nothing again)."),
        after: int | None = Query(default=None, description="Long poll: wait until the inventory version is newer."),
        wait: float = Query(default=0.0, ge=0, le=MAX_WAIT, description="Seconds to wait for `after`."),
        principal: Principal = Depends(who),
    ) -> dict:
        """Every disk (or the filtered ones) with its verdict, counts per verdict, and every host's path
        summary, in one answer (for scripts; the pages use the paged `/disks` and `/changes`)."""
        check_verdicts(verdict)
        waiter = getattr(source, "wait_version", None)
        if after is not None and wait and waiter is not None and pages.version <= after:
            waiter(after, wait)
        updated_at = getattr(source, "updated_at", 0.0)  # read before the inventory: never newer than it
        version = pages.version
        judged = getattr(source, "judged", None)
        found = judged() if judged is not None and unhealthy and not (verdict or vm or hosts_too) else None
        latest = source.latest() if found is not None else None
        if found is not None and latest is not None:
            # the service loop's verdicts of every VM: the counts, and the rows of the disks not healthy, without
            # judging 20,000 VMs again (`status` during a storm of flaps; the loop judges a VM whenever it changes)
            behind = pages.disk_incidents()
            rows = [status_body.row(d, behind) for d in status_body.judged_records(found.unhealthy, latest)]
            head = schemas.Status.model_validate({
                **meta(), "version": version, "updated_at": updated_at, "counts": found.counts,
                "total": sum(found.counts.values()), "disks": [], "hosts": []}).model_dump(mode="json")
            return Response(status_body.body(head, rows, b"[]"), media_type="application/json")
        inv, _, views = ready()
        warmer.ask()
        behind = pages.disk_incidents()

        def wanted(d: dict) -> bool:
            return (not verdict or d["verdict"] in verdict) and (not unhealthy or d["verdict"] != "healthy")

        if vm is not None:
            target = find_vm(inv, vm)
            disks = [d for d in views.disks if d["vm_moref"] == target.moref]
            rows = [status_body.row(d, behind) for d in disks if wanted(d)]
            counts = dict.fromkeys(VERDICTS, 0)
            for d in disks:
                counts[d["verdict"]] += 1
            hosts, answered = encoded.hosts(views) if hosts_too else b"[]", {}
        elif verdict or unhealthy:  # the rows asked for, encoded now (`status`: the few not healthy, not 40,000)
            disks, counts, hosts = views.disks, views.counts, encoded.hosts(views) if hosts_too else b"[]"
            rows = [status_body.row(d, behind) for d in disks if wanted(d)]
            answered = {"version": pages.version_of(views), "updated_at": updated_at}
        else:  # each row's JSON, kept while the row is the same; a build under way is not waited for
            built = encoded.answer(views, behind, pages.version_of(views), updated_at, after)
            disks, counts, rows, hosts = built.views.disks, built.views.counts, built.rows, built.hosts
            hosts = hosts if hosts_too else b"[]"
            answered = {"version": built.version, "updated_at": built.updated_at}
        # the rows are the views' own records (the schema's fields): only the head goes through the model
        head = schemas.Status.model_validate({**meta(), **answered, "counts": counts, "total": len(disks), "disks": [],
                                               "hosts": []}).model_dump(mode="json")
        return Response(status_body.body(head, rows, hosts), media_type="application/json")

    @api.get("/disks", tags=["api"], operation_id="listDisks", response_model=schemas.DiskPage,
             responses=schemas.errors(404, 409))
    def disks(
        verdict: list[str] = Query(default=[], description="Only these verdicts (repeatable)."),
        unhealthy: bool = Query(default=False, description="Only disks that are not healthy."),
        vm: str | None = Query(default=None, description="Only this VM (name or moref)."),
        host: str | None = Query(default=None, description="Only disks of VMs on this host (name or moref)."),
        datastore: str | None = Query(default=None, description="Only disks on this datastore (name or moref)."),
        lun: str | None = Query(default=None, description="Only disks on this LUN (canonical name)."),
        target: str | None = Query(default=None, description="Only disks whose paths use this target port."),
        q: str = q_search, sort: str = q_sort, offset: int = q_offset,
        limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page."),
        version: int | None = q_version, principal: Principal = Depends(who),
    ) -> dict:
        """One page of the disk table: filtered, searched and sorted on the server (sort: verdict, vm, disk,
        host, datastore, lun; default ``-verdict``, worst first)."""
        check_verdicts(verdict)
        inv, _, views = ready(version)
        vm_moref = find_vm(inv, vm).moref if vm else None
        host_moref = find_host(inv, host).moref if host else None

        def where(d: dict) -> bool:
            return ((not verdict or d["verdict"] in verdict) and (not unhealthy or d["verdict"] != "healthy")
                    and (vm_moref is None or d["vm_moref"] == vm_moref)
                    and (host_moref is None or d["host_moref"] == host_moref)
                    and (datastore is None or datastore in d["datastores"] or datastore in d["datastore_morefs"])
                    and (lun is None or lun in d["luns"]) and (target is None or target in d["targets"]))

        if vm_moref is None and host_moref is None and datastore is None and lun is None and target is None \
                and not q.strip():
            # the overview's table (a verdict filter at most): ordered once per inventory, each page a slice
            try:
                ordered = pages.overview(views, sort, tuple(sorted(verdict)), unhealthy)
            except ListError as err:
                raise refused(err) from None
            items, matched = ordered[offset:offset + limit], len(ordered)
        else:
            items, matched = listed(views.disks, DISK_COLUMNS, sort, q, offset, limit, where)
        behind = pages.disk_incidents()
        if behind:
            items = [{**d, "incidents": list(behind.get((d["vm_moref"], d["key"]), ()))} for d in items]
        return {"version": pages.version_of(views), "total": len(views.disks), "matched": matched, "offset": offset,
                "limit": limit, "sort": sort or DISK_COLUMNS.default, "counts": views.counts, "items": items}

    @api.get("/changes", tags=["api"], operation_id="getChanges", response_model=schemas.Changes,
             responses=schemas.errors())
    async def changes(
        after: int = Query(ge=0, description="The inventory version the page shows."),
        wait: float = Query(default=0.0, ge=0, le=MAX_WAIT, description="Seconds to wait for a newer version."),
        incidents_after: int | None = Query(default=None, ge=0, description="The incident state version the page "
                                                                             "shows: a newer one answers too."),
        limit: int | None = Query(default=None, ge=1, le=MAX_LIMIT, description="At most this many disks, hosts and "
                                  "VMs in each list (default: all); more changed: `truncated`, and the page fetches "
                                  "what it shows again (one array port hits thousands of disks)."),
        principal: Principal = Depends(who),
    ) -> dict:
        """Long poll: as soon as the inventory is newer than ``after``, or the incidents newer than
        ``incidents_after`` (or after ``wait`` seconds), what changed since: disks whose verdict or explanation
        changed, hosts whose summary changed, the counts, the incident state's version."""
        # the newest views judged are the base of the next step (the digest reads every disk: not on the loop)
        found = pages.newest() or await run_in_threadpool(ready)
        await run_in_threadpool(pages.feed.advance, pages.version_of(found[2]), found[2])

        def same() -> bool:
            seen = pages.incidents_version
            return pages.version <= after and (incidents_after is None or seen is None or seen <= incidents_after)

        deadline = time.monotonic() + wait
        while same() and time.monotonic() < deadline and not closing.is_set():
            await asyncio.sleep(0.05)
        # an incident change is told at once, from the newest views judged: judging a newer inventory takes
        # seconds at 20,000 VMs (and the lifecycle's pass comes after the inventory's version); that one is judged
        # meanwhile in the pages' thread, and the next answer tells it
        told = incidents_after is not None and (pages.incidents_version or 0) > incidents_after
        newest = pages.newest() if told else None
        if newest is not None and pages.version_of(newest[2]) < pages.version:
            pages.judge_later()
        _, _, views = newest or await run_in_threadpool(ready)
        version = pages.version_of(views)
        delta = await run_in_threadpool(pages.feed.since, after, version, views)
        await run_in_threadpool(pages.warm, views, version)
        delta["changed_disks"] = len(delta["disks"]) + len(delta["removed_disks"])
        delta["changed_hosts"] = len(delta["hosts"]) + len(delta["removed_hosts"])
        if limit is not None:
            lists = ("disks", "removed_disks", "hosts", "removed_hosts", "vms")
            delta["truncated"] = any(len(delta[k]) > limit for k in lists)
            delta.update({k: delta[k][:limit] for k in lists})
        return {**meta(), "version": version, "counts": views.counts, "incidents_version": pages.incidents_version,
                **delta}

    # -- VMs ----------------------------------------------------------------------------------------------

    @api.get("/vms", tags=["api"], operation_id="listVms", response_model=schemas.VmList,
             responses=schemas.errors(404, 409))
    def vms(host: str | None = Query(default=None, description="Only VMs on this host (name or moref)."),
            verdict: list[str] = Query(default=[], description="Only these verdicts."),
            q: str = q_search, sort: str = q_sort, offset: int = q_offset,
            limit: int | None = Query(default=None, ge=1, le=MAX_LIMIT, description="Rows per page (default: all)."),
            principal: Principal = Depends(who)) -> dict:
        """VMs with their verdicts (sort: name, verdict, host, disks)."""
        check_verdicts(verdict)
        inv, _, views = ready()
        host_moref = find_host(inv, host).moref if host else None
        rows, matched = listed(views.vms, VM_COLUMNS, sort, q, offset, limit, lambda v: (
            (host_moref is None or v["host_moref"] == host_moref) and (not verdict or v["verdict"] in verdict)))
        return {"version": pages.version, "total": len(views.vms), "matched": matched, "vms": rows}

    @api.get("/vms/{vm}/map", tags=["api"], operation_id="getVmMap", response_model=storage_schemas.VmMap,
             responses=schemas.errors(404, 409))
    def vm_map(vm: str, principal: Principal = Depends(who)) -> dict:
        """One VM (name, moref or vSphere Client object id): the whole chain, disk -> datastores -> LUNs ->
        paths on every host, the advice per disk, and the service level it is judged by."""
        inv, _, views = ready()
        target = find_vm(inv, vm)
        truth = views.vm_truth(target.moref)
        with views.lock:
            out = truth.as_dict()
        out["level"] = {**out["level"], **pages.level_of(target)[1]}  # met, by how much, and where it comes from
        behind = pages.incidents_of(target.moref)
        for disk in out["disks"]:
            disk["incidents"] = behind.get(disk["disk"]["key"], [])
        return out

    # -- hosts and storage ------------------------------------------------------------------------------

    @api.get("/hosts", tags=["api"], operation_id="listHosts", response_model=schemas.HostList,
             responses=schemas.errors())
    def hosts(problems: bool = Query(default=False, description="Only hosts with a badge (something wrong)."),
              q: str = q_search, sort: str = q_sort, offset: int = q_offset,
              limit: int | None = Query(default=None, ge=1, le=MAX_LIMIT, description="Rows per page (default: all)."),
              version: int | None = q_version, principal: Principal = Depends(who)) -> dict:
        """Every host's path summary ("2/2 FC HBAs online, 1 local adapter, 10/10 LUNs ok, 40/40 paths available,
        20 carrying I/O"), badges naming
        what is wrong ("1 of 7 LUNs in APD") and HBAs (sort: name, cluster, problems, paths, vms)."""
        _, _, views = ready(version)
        rows, matched = listed(views.hosts, HOST_COLUMNS, sort, q, offset, limit,
                               (lambda h: bool(h["badges"])) if problems else None)
        return {"version": pages.version_of(views), "total": len(views.hosts), "matched": matched, "hosts": rows}

    @api.get("/hosts/{host}", tags=["api"], operation_id="getHost", response_model=storage_schemas.HostDetail,
             responses=schemas.errors(404))
    def host(host: str, principal: Principal = Depends(who)) -> dict:
        """One host (name, moref or object id): its storage adapters (targets and devices per HBA), storage
        devices, paths (runtime name, target), the LUNs' verdicts from it, and the VMs on it."""
        inv, _, views = ready()
        detail = views.host_detail(find_host(inv, host).moref)
        if health is not None:
            detail["proactive_ha"] = health().get(detail["name"])
        return detail

    def storage_list(rows: list[dict], columns: Columns, q: str, sort: str, offset: int, limit: int) -> dict:
        items, matched = listed(rows, columns, sort, q, offset, limit)
        return {"version": pages.version, "total": len(rows), "matched": matched, "offset": offset, "limit": limit,
                "sort": sort or columns.default, "items": items}

    q_limit = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page.")

    @api.get("/luns", tags=["storage"], operation_id="listLuns", response_model=storage_schemas.LunPage,
             responses=schemas.errors())
    def luns(q: str = q_search, sort: str = q_sort, offset: int = q_offset, limit: int = q_limit,
             principal: Principal = Depends(who)) -> dict:
        """Every LUN any host sees (sort: name, verdict, disks, hosts)."""
        return storage_list(ready()[2].luns, LUN_COLUMNS, q, sort, offset, limit)

    @api.get("/luns/{lun}", tags=["storage"], operation_id="getLun", response_model=storage_schemas.LunDetail,
             responses=schemas.errors(404))
    def lun(lun: str, principal: Principal = Depends(who)) -> dict:
        """One LUN (canonical name): its paths on every host, the targets serving it, the VMs on it."""
        views = ready()[2]
        if not any(r["canonical_name"] == lun for r in views.luns):
            raise HTTPException(404, f"no LUN {lun!r} on any host")
        return views.lun_detail(lun)

    @api.get("/datastores", tags=["storage"], operation_id="listDatastores", response_model=storage_schemas.DatastorePage,
             responses=schemas.errors())
    def datastores(q: str = q_search, sort: str = q_sort, offset: int = q_offset, limit: int = q_limit,
                   principal: Principal = Depends(who)) -> dict:
        """Every datastore (sort: name, verdict, disks, kind)."""
        return storage_list(ready()[2].datastores, DATASTORE_COLUMNS, q, sort, offset, limit)

    @api.get("/datastores/{datastore}", tags=["storage"], operation_id="getDatastore",
             response_model=storage_schemas.DatastoreDetail, responses=schemas.errors(404))
    def datastore(datastore: str, principal: Principal = Depends(who)) -> dict:
        """One datastore (name, moref or object id): extents, every host's mount, the VMs on it."""
        inv, _, views = ready()
        ref = object_ref(datastore, "datastore")
        ds = inv.datastores.get(ref) or next((d for d in inv.datastores.values() if d.name == ref), None)
        if ds is None:
            raise HTTPException(404, f"no datastore named {ref!r}")
        return views.datastore_detail(ds.moref)

    @api.get("/targets", tags=["storage"], operation_id="listTargets", response_model=storage_schemas.TargetPage,
             responses=schemas.errors())
    def targets(q: str = q_search, sort: str = q_sort, offset: int = q_offset, limit: int = q_limit,
                principal: Principal = Depends(who)) -> dict:
        """Every target port (array port WWPN or iSCSI target) the hosts' paths use (sort: target, dead, disks;
        default: most dead paths first)."""
        return storage_list(ready()[2].targets, TARGET_COLUMNS, q, sort, offset, limit)

    @api.get("/targets/{target}", tags=["storage"], operation_id="getTarget", response_model=storage_schemas.TargetDetail,
             responses=schemas.errors(404))
    def target(target: str, principal: Principal = Depends(who)) -> dict:
        """One target port: every path through it (host, HBA, runtime name, LUN, state) and the VMs behind."""
        views = ready()[2]
        if not any(r["target"] == target for r in views.targets):
            raise HTTPException(404, f"no path uses target {target!r}")
        return views.target_detail(target)

    # -- what the service did ---------------------------------------------------------------------------

    @api.get("/events", tags=["api"], operation_id="listEvents", response_model=schemas.Events,
             responses=schemas.errors(404, 409))
    def events(vm: str | None = Query(default=None, description="Only this VM's events (name or moref)."),
               limit: int = Query(default=100, ge=1, le=1000, description="The newest this many."),
               principal: Principal = Depends(who)) -> dict:
        """vsguesttruth's vCenter events of the last day, newest last: moves, advice, holds, refusals."""
        reader = getattr(source, "events", None)
        if reader is None:
            return {"available": False, "events": []}
        moref = find_vm(ready()[0], vm).moref if vm else ""
        found = reader(moref, limit)
        return {"available": True, "events": [{**e, "kind": event_kind(e["message"])} for e in found]}

    # -- remediation --------------------------------------------------------------------------------------

    @api.get("/plan", tags=["remediation"], operation_id="getPlan", response_model=schemas.PlanAnswer,
             responses=schemas.errors(404, 409, 501))
    def get_plan(vm: str | None = Query(default=None, description="Only this VM (name or moref): exactly one "
                                                                  "decision, a move or a refusal saying why not."),
                 principal: Principal = Depends(who)) -> Any:
        """What remediation would move, where and why; and what not, and why not (501 without remediation).
        For one VM this is what its move action offers and what POST migrate does."""
        inv, _, _ = ready()
        moref = find_vm(inv, vm).moref if vm else None
        if plan is None:
            raise HTTPException(501, {"error": "remediation not available", "available": False})
        answer = plan(inv, moref)
        return answer.as_dict() if hasattr(answer, "as_dict") else answer

    @api.post("/vms/{vm}/migrate", tags=["remediation"], operation_id="migrateVm",
              response_model=schemas.MigrateResult, responses=schemas.errors(404, 409, 413, 501, 502))
    def post_migrate(vm: str, body: MigrateRequest | None = None, principal: Principal = Depends(who)) -> Any:
        """Move a VM: to ``to_host``, or exactly what ``GET /plan?vm=`` offers (a refusal answers 409 with its
        reason; an unknown host 404). Needs a write token, or a vSphere Client session whose user holds
        Resource.HotMigrate on the VM. Counted in vsguesttruth_migrations_total by outcome (done, failed, refused)."""
        inv, _, _ = ready()
        target = find_vm(inv, vm)
        if not auth.may_migrate(principal, target.moref):
            raise HTTPException(403, f"{principal.name} may not migrate {target.name}: a write token, or "
                                     "the vCenter privilege Resource.HotMigrate on the VM, is needed")
        if migrate is None:
            raise HTTPException(501, {"error": "remediation not available", "available": False,
                                      "authorized": True})
        request = body or MigrateRequest()
        to_host = find_host(inv, request.to_host).moref if request.to_host else None
        try:
            result = migrate(target.moref, to_host=to_host, dry_run=request.dry_run, requested_by=principal.name)
        except MoveRefused as err:
            metrics.migration_done("refused")
            raise HTTPException(409, {"error": f"{target.name} was not moved: {err}", "outcome": "refused"}) from None
        except Exception as err:  # noqa: BLE001 - the executor's errors are one line (VsgtError)
            metrics.migration_done("failed")
            raise HTTPException(502, {"error": f"{target.name} was not moved: {err}", "outcome": "failed"}) from None
        if not request.dry_run:
            metrics.migration_done("done")
        return result.as_dict() if hasattr(result, "as_dict") else result

    return api
