"""The plugin server's FastAPI app: JSON API, UI pages, plugin.json, /metrics, health.

``create_app(source, auth, plan=None, migrate=None, role=None)``:

- ``source``: an :class:`~vsguesttruth.web.source.InventorySource` (``latest()`` -> Inventory or None);
- ``auth``: an :class:`~vsguesttruth.web.auth.Auth` (tokens and/or vCenter session checks);
- ``plan(inventory, vm_moref_or_None) -> JSON-able`` (or an object with ``as_dict()``): what remediation would
  do; ``migrate(vm_moref, to_host=..., dry_run=..., requested_by=...) -> JSON-able``: do it. Both come from the
  remediation code; without them the API answers 501 "remediation not available" and the UI says so;
- ``role() -> dict``: ``vsguesttruth serve``'s role (``{"role": "active" | "passive", "holder": ...}``, the
  single-instance lease), shown by ``/readyz`` and ``/api/v1/whoami`` (the pages' header).

Routes (all JSON unless said): ``/healthz``, ``/readyz`` (anonymous); ``/plugin.json`` and ``/images/*`` (the
manifest and its icons: vCenter fetches them anonymously); ``/ui/*.html`` (pages: static, they hold no data);
``/api/v1/...`` and ``/metrics`` (authenticated, see ``auth``); ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from vsguesttruth import __version__
from vsguesttruth.model import Inventory
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import DiskTruth, TruthContext, Verdict

from . import metrics
from .auth import Auth, Principal
from .manifest import manifest_dir
from .middleware import UNAUTHENTICATED, Gate, principal_of
from .source import InventorySource

STATIC = Path(__file__).parent / "static"
VERDICTS = [v.value for v in Verdict]
MAX_WAIT = 25.0

PlanFn = Callable[[Inventory, "str | None"], Any]
MigrateFn = Callable[..., Any]


class MigrateRequest(BaseModel):
    """The body of POST migrate; unknown fields are refused (a typo such as ``dryRun`` must not move a VM)."""

    model_config = ConfigDict(extra="forbid")

    to_host: str | None = Field(default=None, description="Target host name; the planner's choice when absent.")
    dry_run: bool = Field(default=False, description="Plan and check only; do not move.")


class _Truth:
    """The latest inventory's TruthContext, built once per inventory (pages ask many questions)."""

    def __init__(self, source: InventorySource) -> None:
        self.source = source
        self._lock = threading.RLock()
        self._inv: Inventory | None = None
        self._ctx: TruthContext | None = None

    @property
    def level(self) -> ServiceLevel:
        return getattr(self.source, "level", None) or ServiceLevel()

    def get(self) -> tuple[Inventory, TruthContext, ServiceLevel] | None:
        inv = self.source.latest()
        if inv is None:
            return None
        with self._lock:
            if inv is not self._inv:
                self._inv, self._ctx = inv, TruthContext(inv)
            assert self._ctx is not None
            return inv, self._ctx, self.level

    def lock(self) -> threading.RLock:
        return self._lock


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="vsguesttruth"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def disk_record(d: DiskTruth) -> dict:
    """The compact per-disk record (the same fields as ``status --json``)."""
    return {
        "vm": d.vm_name, "vm_moref": d.vm, "disk": d.label, "key": d.key, "host": d.host,
        "host_moref": d.host_moref, "controller": d.disk.controller, "bus": d.disk.bus, "unit": d.disk.unit,
        "uuid": d.disk.uuid, "backing": d.disk.backing,
        "datastores": [ds.name for ds in d.datastores], "luns": [lun.canonical_name for lun in d.luns],
        "verdict": d.verdict.value, "advice": d.advice.value, "explanation": d.explanation,
    }


def create_app(source: InventorySource, auth: Auth, *, plan: PlanFn | None = None,
               migrate: MigrateFn | None = None, metrics_anonymous: bool = False,
               manifest: Path | None = None, role: Callable[[], dict] | None = None) -> FastAPI:
    """The app (see the module docstring)."""
    truth = _Truth(source)
    manifest_path = manifest or manifest_dir()
    app = FastAPI(
        dependencies=[Depends(_known_query)],
        title="vsguesttruth", version=__version__,
        description="The physical truth about VM storage: verdict per virtual disk, the chain to every path, "
                    "remediation. Authenticate with `Authorization: Bearer TOKEN` or the vSphere Client's "
                    "`vmware-api-session-id`.",
    )
    app.state.source = source
    app.state.auth = auth

    # -- errors and headers ---------------------------------------------------------------------------

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return _error(exc.status_code, detail.pop("error", "error"), **detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "extra_forbidden":
            loc = first.get("loc", ())
            return _error(422, f"invalid request: unknown field {str(loc[-1])!r} in the {loc[0]}", field=str(loc[-1]))
        return _error(422, f"invalid request: {where}: {first.get('msg', 'invalid')}")

    app.add_middleware(Gate, auth=auth, protected=lambda path: path.startswith("/api/v1/")
                       or (path == "/metrics" and not metrics_anonymous))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith(("/api/", "/metrics")):
            response.headers.setdefault("Cache-Control", "no-store")
        if request.url.path.startswith("/ui/"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "connect-src 'self'; object-src 'none'; base-uri 'self'")
        return response

    # -- auth -----------------------------------------------------------------------------------------

    def who(request: Request) -> Principal:
        principal = principal_of(request.scope)  # the gate authenticated the request before its body was read
        if principal is None:
            raise HTTPException(401, UNAUTHENTICATED)
        return principal

    def ready() -> tuple[Inventory, TruthContext, ServiceLevel]:
        found = truth.get()
        if found is None:
            raise HTTPException(503, {"error": "no inventory from vCenter yet", "ready": False})
        return found

    def find_vm(inv: Inventory, name: str):
        vm = inv.vms.get(name) or inv.vm_by_name(name)
        if vm is None:
            raise HTTPException(404, f"no VM named {name!r}")
        return vm

    def find_host(inv: Inventory, name: str):
        host = inv.hosts.get(name) or inv.host_by_name(name)
        if host is None:
            raise HTTPException(404, f"no host named {name!r}")
        return host

    # -- health ---------------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """The process answers."""
        return {"ok": True, "version": __version__}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready once a first inventory came from vCenter; ``role``: active, or passive (standing by, read-only)."""
        inv = source.latest()
        body = {"ready": inv is not None, "version": getattr(source, "version", 0),
                "error": getattr(source, "error", "")}
        if role is not None:
            body.update(role())
        return JSONResponse(body, status_code=200 if inv is not None else 503)

    # -- the plugin manifest and the pages -------------------------------------------------------------

    @app.get("/plugin.json", tags=["plugin"], include_in_schema=False)
    def plugin_json() -> Response:
        path = manifest_path / "plugin.json"
        if not path.exists():
            raise HTTPException(404, f"plugin manifest not found in {manifest_path}: set VSGT_PLUGIN_MANIFEST_DIR")
        return Response(path.read_bytes(), media_type="application/json")

    if (manifest_path / "images").is_dir():
        app.mount("/images", StaticFiles(directory=manifest_path / "images"), name="images")
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")

    @app.get("/api/ui/htmlClientSdk.js", include_in_schema=False)
    def sdk_stub() -> FileResponse:
        """Outside the vSphere Client (standalone, tests) the pages load this stand-in of the SDK; inside it,
        vCenter serves the real one at this same path."""
        return FileResponse(STATIC / "sdk-stub.js", media_type="application/javascript")

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return Response(status_code=307, headers={"Location": "ui/global.html"})

    # -- the JSON API ---------------------------------------------------------------------------------

    @app.get("/api/v1/whoami", tags=["api"])
    def whoami(principal: Principal = Depends(who)) -> dict:
        """Who the credentials belong to."""
        return {**principal.as_dict(), "remediation": plan is not None, "migrate": migrate is not None,
                **(role() if role is not None else {})}

    @app.get("/api/v1/status", tags=["api"])
    def status(
        request: Request,
        verdict: list[str] = Query(default=[], description="Only disks with these verdicts."),
        unhealthy: bool = Query(default=False, description="Only disks that are not healthy."),
        vm: str | None = Query(default=None, description="Only this VM (name or moref)."),
        after: int | None = Query(default=None, description="Long poll: wait until the inventory version is newer."),
        wait: float = Query(default=0.0, ge=0, le=MAX_WAIT, description="Seconds to wait for `after`."),
        principal: Principal = Depends(who),
    ) -> dict:
        """Every disk (or the filtered ones) with its verdict, counts per verdict, and every host's path
        summary. ``after=V&wait=S`` answers as soon as the inventory is newer than version V (live pages)."""
        bad = [v for v in verdict if v not in VERDICTS]
        if bad:
            raise HTTPException(422, f"unknown verdict {bad[0]!r}; known: {', '.join(VERDICTS)}")
        waiter = getattr(source, "wait_version", None)
        if after is not None and wait and waiter is not None and getattr(source, "version", 0) <= after:
            waiter(after, wait)
        inv, ctx, level = ready()
        with truth.lock():
            disks = list(ctx.disk_truths(level))
            hosts = [ctx.host_summary(h.moref) for h in sorted(inv.hosts.values(), key=lambda h: h.name)]
        if vm is not None:
            target = find_vm(inv, vm)
            disks = [d for d in disks if d.vm == target.moref]
        counts = dict.fromkeys(VERDICTS, 0)
        for d in disks:
            counts[d.verdict.value] += 1
        shown = [d for d in disks
                 if (not verdict or d.verdict.value in verdict) and (not unhealthy or d.verdict is not Verdict.HEALTHY)]
        return {
            "version": getattr(source, "version", 0), "updated_at": getattr(source, "updated_at", 0.0),
            "error": getattr(source, "error", ""), "counts": counts, "total": len(disks),
            "disks": [disk_record(d) for d in shown],
            "hosts": [_host_line(s) for s in hosts],
            **({"role": role()} if role is not None else {}),
        }

    @app.get("/api/v1/vms", tags=["api"])
    def vms(principal: Principal = Depends(who)) -> dict:
        """Every VM with its verdict."""
        inv, ctx, level = ready()
        with truth.lock():
            rows = [ctx.vm_truth(moref, level) for moref in inv.vms]
        return {"vms": [{"moref": t.vm, "name": t.name, "host": t.host, "cluster": t.cluster,
                         "power_state": t.power_state, "verdict": t.verdict.value, "explanation": t.explanation,
                         "disks": len(t.disks)} for t in sorted(rows, key=lambda t: t.name)]}

    @app.get("/api/v1/vms/{vm}/map", tags=["api"])
    def vm_map(vm: str, principal: Principal = Depends(who)) -> dict:
        """One VM (name or moref): the whole chain, disk -> datastores -> LUNs -> paths on every host."""
        inv, ctx, level = ready()
        target = find_vm(inv, vm)
        with truth.lock():
            return ctx.vm_truth(target.moref, level).as_dict()

    @app.get("/api/v1/hosts", tags=["api"])
    def hosts(principal: Principal = Depends(who)) -> dict:
        """Every host's path summary ("2/2 HBAs online, 10/10 LUNs ok, 31/32 paths working") and HBAs."""
        inv, ctx, _ = ready()
        with truth.lock():
            summaries = [ctx.host_summary(h.moref) for h in sorted(inv.hosts.values(), key=lambda h: h.name)]
        return {"hosts": [{k: v for k, v in s.as_dict().items() if k != "luns"} for s in summaries]}

    @app.get("/api/v1/hosts/{host}", tags=["api"])
    def host(host: str, principal: Principal = Depends(who)) -> dict:
        """One host (name or moref): HBAs, LUNs, paths and their states."""
        inv, ctx, _ = ready()
        target = find_host(inv, host)
        with truth.lock():
            return ctx.host_summary(target.moref).as_dict()

    @app.get("/api/v1/plan", tags=["remediation"])
    def get_plan(vm: str | None = Query(default=None, description="Only this VM (name or moref)."),
                 principal: Principal = Depends(who)) -> Any:
        """What remediation would move, where and why (501 while remediation is not available)."""
        inv, _, _ = ready()
        moref = find_vm(inv, vm).moref if vm else None
        if plan is None:
            raise HTTPException(501, {"error": "remediation not available", "available": False})
        return _jsonable(plan(inv, moref))

    @app.post("/api/v1/vms/{vm}/migrate", tags=["remediation"])
    def post_migrate(vm: str, body: MigrateRequest | None = None, principal: Principal = Depends(who)) -> Any:
        """Move a VM (to ``to_host`` or where the planner says). Needs a write token, or a vSphere Client session
        whose user holds Resource.HotMigrate on the VM."""
        inv, _, _ = ready()
        target = find_vm(inv, vm)
        if not auth.may_migrate(principal, target.moref):
            raise HTTPException(403, f"{principal.name} may not migrate {target.name}: a write token, or "
                                     "the vCenter privilege Resource.HotMigrate on the VM, is needed")
        if migrate is None:
            raise HTTPException(501, {"error": "remediation not available", "available": False,
                                      "authorized": True})
        request = body or MigrateRequest()
        try:
            result = migrate(target.moref, to_host=request.to_host, dry_run=request.dry_run,
                             requested_by=principal.name)
        except Exception as err:  # noqa: BLE001 - the executor's errors are one line (VsgtError)
            metrics.migration_done("failed")
            raise HTTPException(409, f"{target.name} was not moved: {err}") from None
        return _jsonable(result)

    @app.get("/metrics", tags=["metrics"])
    def get_metrics(request: Request) -> Response:
        """Prometheus text format; ``?name[]=...`` (repeatable) for only those samples. Needs a token unless
        ``metrics_anonymous``."""
        names = request.query_params.getlist("name[]")
        if len(names) > 100:
            raise HTTPException(400, "at most 100 name[] parameters")
        with truth.lock():
            body = metrics.render(truth.get, names)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return app


def _known_query(request: Request) -> None:
    """Refuse query parameters the route does not take (422 naming it), as the body refuses unknown fields."""
    route = request.scope.get("route")
    if not request.url.path.startswith(("/api/v1/", "/metrics")) or route is None:
        return
    known, todo = set(_EXTRA_QUERY.get(route.path, ())), [route.dependant]
    while todo:  # the route's parameters and its dependencies'
        dependant = todo.pop()
        known.update(p.alias for p in dependant.query_params)
        todo.extend(dependant.dependencies)
    unknown = sorted(k for k in request.query_params.keys() if k not in known)
    if unknown:
        raise HTTPException(422, {"error": f"invalid request: unknown query parameter {unknown[0]!r}"
                                           f" (known: {', '.join(sorted(known)) or 'none'})", "field": unknown[0]})


_EXTRA_QUERY = {"/metrics": {"name[]"}}  # read by the route itself


def _host_line(s: Any) -> dict:
    return {
        "moref": s.moref, "name": s.name, "cluster": s.cluster, "connection_state": s.connection_state,
        "verdict": s.verdict.value, "line": s.line, "hbas_online": s.hbas_online, "hbas_total": s.hbas_total,
        "luns_ok": s.luns_ok, "luns_total": s.luns_total, "paths_working": s.paths_working,
        "paths_total": s.paths_total,
    }
