"""The plugin server's FastAPI app: JSON API, UI pages, plugin.json, /metrics, health, the API docs.

``create_app(source, auth, plan=None, migrate=None, role=None)``:

- ``source``: an :class:`~vsguesttruth.web.source.InventorySource` (``latest()`` -> Inventory or None);
- ``auth``: an :class:`~vsguesttruth.web.auth.Auth` (tokens and/or vCenter session checks);
- ``plan(inventory, vm_moref_or_None) -> JSON-able`` (or an object with ``as_dict()``): what remediation would
  do; ``migrate(vm_moref, to_host=..., dry_run=..., requested_by=...) -> JSON-able``: do it (raise
  ``MoveRefused`` to refuse: 409; any other error is a failed move: 502). Both come from the remediation code;
  without them the API answers 501 "remediation not available" and the UI says so.
- ``guest``: the admin's ``[guest]`` bounds, to judge each VM by its guest's service level as its guest is told.
- ``role() -> dict``: ``vsguesttruth serve``'s role (``{"role": "active" | "passive", "holder": ...}``, the
  single-instance lease), shown by ``/readyz``, ``/api/v1/whoami``, ``/about`` and the change feed (the pages'
  context line).
- ``incidents``: an :class:`~vsguesttruth.web.incident_views.IncidentSource` (the service's incident lifecycle and
  the config the audit and what-if read): the incident routes (:mod:`.incident_api`) and their /metrics; without
  it they answer 501.

Routes: ``/healthz``, ``/readyz`` (anonymous); ``/plugin.json`` and ``/images/*`` (the manifest and its icons:
vCenter fetches them anonymously); ``/ui/*`` (the pages and their bundled scripts and styles: static, they
hold no data); ``/api/v1/...`` (:mod:`.api`), ``/openapi.json`` and ``/metrics`` (authenticated, see ``auth``);
``/docs`` (the bundled Swagger UI, a static page that asks for a token and reads ``/openapi.json`` with it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from vsguesttruth import __version__
from vsguesttruth.config import GuestConfig
from vsguesttruth.model import Inventory

from . import metrics, schemas
from . import incident_api
from .api import MigrateRequest, router, who
from .incident_views import IncidentSource
from .pages import Pages
from .auth import Auth
from .manifest import manifest_dir
from .middleware import Gate
from .source import InventorySource

STATIC = Path(__file__).parent / "static"

PlanFn = Callable[[Inventory, "str | None"], Any]
MigrateFn = Callable[..., Any]

__all__ = ["MigrateRequest", "STATIC", "create_app"]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="vsguesttruth"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def create_app(source: InventorySource, auth: Auth, *, plan: PlanFn | None = None,
               migrate: MigrateFn | None = None, metrics_anonymous: bool = False,
               manifest: Path | None = None, guest: GuestConfig | None = None,
               role: Callable[[], dict] | None = None, health: Callable[[], dict] | None = None,
               incidents: IncidentSource | None = None) -> FastAPI:
    """The app (see the module docstring)."""
    pages = Pages(source, guest or GuestConfig(), incidents)
    manifest_path = manifest or manifest_dir()
    if not (STATIC / "vsgt.js").is_file():
        raise RuntimeError(f"the plugin's pages are not built in {STATIC}: run `make setup` (npm run build in "
                           "vsguesttruth/web/ui)")
    app = FastAPI(
        dependencies=[Depends(_known_query)], openapi_url=None, docs_url=None, redoc_url=None,
        title="vsguesttruth", version=__version__,
        description="The physical truth about VM storage: verdict per virtual disk, the chain to every path, "
                    "remediation. Authenticate with `Authorization: Bearer TOKEN` (an API token) or the vSphere "
                    "Client's `vmware-api-session-id`. Every error is `{\"error\": \"...\"}`.",
    )
    app.state.source = source
    app.state.auth = auth
    app.state.pages = pages
    app.state.closing = threading.Event()  # set by WebServer.stop: long polls answer at once

    # -- errors and headers ---------------------------------------------------------------------------

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = dict(exc.detail) if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return _error(exc.status_code, detail.pop("error", "error"), **detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ())]
        if first.get("type") == "extra_forbidden":
            return _error(422, f"invalid request: unknown field {loc[-1]!r} in the {loc[0]}", field=loc[-1])
        return _error(422, f"invalid request: {'.'.join(loc)}: {first.get('msg', 'invalid')}",
                      field=loc[-1] if loc else None)

    app.add_middleware(Gate, auth=auth, protected=lambda path: path.startswith("/api/v1/")
                       or path == "/openapi.json" or (path == "/metrics" and not metrics_anonymous))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith(("/api/", "/metrics", "/openapi.json")):
            response.headers.setdefault("Cache-Control", "no-store")
        if request.url.path.startswith("/ui/"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; font-src 'self'; "
                "connect-src 'self'; object-src 'none'; base-uri 'self'")
            response.headers.setdefault("Cache-Control", "no-cache")  # revalidated (ETag): a new build shows at once
        return response

    # -- health ---------------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"], operation_id="healthz", response_model=schemas.Health)
    def healthz() -> dict:
        """The process answers."""
        return {"ok": True, "version": __version__}

    @app.get("/readyz", tags=["health"], operation_id="readyz", response_model=schemas.Ready,
             responses={503: {"model": schemas.Ready, "description": "No inventory from vCenter yet."}})
    def readyz() -> JSONResponse:
        """Ready once a first inventory came from vCenter; ``role``: active, or passive (standing by, read-only)."""
        inv = source.latest()
        body = {"ready": inv is not None, "version": getattr(source, "version", 0),
                "error": getattr(source, "error", "")}
        if role is not None:
            body.update(role())
        return JSONResponse(body, status_code=200 if inv is not None else 503)

    # -- the plugin manifest, the pages, the docs ------------------------------------------------------

    @app.get("/plugin.json", tags=["plugin"], include_in_schema=False)
    def plugin_json() -> Response:
        path = manifest_path / "plugin.json"
        if not path.exists():
            raise HTTPException(404, f"plugin manifest not found in {manifest_path}: set VSGT_PLUGIN_MANIFEST_DIR")
        return Response(path.read_bytes(), media_type="application/json")

    if (manifest_path / "images").is_dir():
        app.mount("/images", StaticFiles(directory=manifest_path / "images"), name="images")
    app.mount("/ui", GZipMiddleware(StaticFiles(directory=STATIC, html=True), minimum_size=1024), name="ui")

    @app.get("/api/ui/htmlClientSdk.js", include_in_schema=False)
    def sdk_stub() -> FileResponse:
        """Outside the vSphere Client (standalone, tests) the pages load this stand-in of the SDK; inside it,
        vCenter serves the real one at this same path."""
        return FileResponse(STATIC / "sdk-stub.js", media_type="application/javascript")

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return Response(status_code=307, headers={"Location": "ui/global.html"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        """The API docs: the bundled Swagger UI (no CDN); it asks for a token and reads /openapi.json with it."""
        return Response(status_code=307, headers={"Location": "ui/docs.html"})

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    # -- the JSON API and /metrics ----------------------------------------------------------------------

    app.include_router(router(pages, auth, plan=plan, migrate=migrate, closing=app.state.closing, role=role,
                              health=health))
    app.include_router(incident_api.router(pages, who, plan=plan))

    @app.get("/metrics", tags=["metrics"], operation_id="getMetrics",
             responses={200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text format."},
                        **schemas.errors()})
    def get_metrics(request: Request) -> Response:
        """Prometheus text format; ``?name[]=...`` (repeatable) for only those samples. Needs a token unless
        ``metrics_anonymous``."""
        names = request.query_params.getlist("name[]")
        if len(names) > 100:
            raise HTTPException(400, "at most 100 name[] parameters")
        if not metrics.wants_truth(names):  # a few counters: no truth to judge, not even an inventory to index
            body = metrics.render(lambda: None, names)
        elif (found := pages.get()) is None:
            body = metrics.render(lambda: None, names)
        else:
            with found[2].lock:
                body = metrics.render(pages.snapshot, names)
        if pages.incidents is not None:
            body += metrics.render_incidents(pages.incident_metrics, names)
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
