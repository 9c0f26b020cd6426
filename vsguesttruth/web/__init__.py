"""The plugin server: the vSphere Client remote plugin's pages, the JSON API, /metrics, health.

Public surface::

    from vsguesttruth.web import Auth, StaticSource, TokenStore, WatcherSource, create_app, metrics, start_web

    app = create_app(source, auth, plan=None, migrate=None)     # a FastAPI app (works in TestClient)
    handle = start_web(source, config.web, settings=settings)    # HTTPS in a background thread
    ...
    handle.stop()                                                # graceful: requests in flight finish

**Beside the reconcile loop (``vsguesttruth serve``).** The loop's vCenter informer is the app's *source*
too (:meth:`WatcherSource.sharing`: ``latest() -> Inventory | None``, the ``level`` pages judge by,
``version``, ``updated_at``, ``error`` and ``wait_version(after, timeout)`` for live pages; ``vcenter`` and
``events`` through the service's connection); remediation's manual moves are its move action::

    from vsguesttruth.web import WatcherSource, start_web, track
    track(service.informer)                                   # watch answers -> /metrics
    web = start_web(WatcherSource.sharing(service.informer, service.level, conn=service.conn), config.web,
                    settings=connection_settings, plan=remedy.manual.plan, migrate=remedy.manual.migrate,
                    guest=config.guest, incidents=IncidentSource(service.incidents.state, remedy.config, config.audit,
                                                                 lambda: remedy.replicas))
    try:
        service.run()                  # and metrics.publish_done("ok"), metrics.vcenter_error(kind), ...
    finally:
        web.stop()

``start_web`` reads ``[web]``: listen, port, cert_file/key_file (HTTPS; plain HTTP is refused unless
``allow_http=True``, for tests), api_tokens_file, session_cache_seconds (a vSphere Client user's token is
exchanged for a vCenter session of that user with ``settings``, and cached: :mod:`.session`),
metrics_anonymous. ``plan(inventory, vm_moref_or_None)`` returns what would move (JSON-able or
``.as_dict()``); ``migrate(vm_moref, *, to_host, dry_run, requested_by)`` moves one VM and returns a JSON-able
result (raise ``MoveRefused`` to refuse: the API answers 409 with its message; any other
error is a failed move: 502).

``vsguesttruth web`` (cli/plugin.py) runs the same thing standalone, with a :class:`WatcherSource`.
"""

from __future__ import annotations

from typing import Any

from . import metrics
from .app import create_app
from .auth import Auth, Principal, TokenStore
from .incident_views import IncidentSource
from .server import WebServer, self_signed
from .session import ClientSessions
from .source import InventorySource, StaticSource, WatcherSource, track

__all__ = [
    "Auth", "ClientSessions", "IncidentSource", "InventorySource", "Principal", "StaticSource", "TokenStore",
    "WatcherSource", "WebServer",
    "create_app", "make_auth", "metrics", "self_signed", "start_web", "track",
]


def make_auth(web_config: Any, settings: Any = None, extra_tokens: dict[str, tuple[str, str]] | None = None) -> Auth:
    """Tokens from ``[web] api_tokens_file`` (plus ``extra_tokens``), and vSphere Client session checks
    against the vCenter of ``settings`` (a ConnectionSettings) when given."""
    tokens = TokenStore.from_file(web_config.api_tokens_file) if web_config.api_tokens_file else TokenStore()
    if extra_tokens:
        tokens = tokens.with_tokens(extra_tokens)
    sessions = None
    if settings is not None:
        from vsguesttruth.vcenter import ClientSessionExchange

        sessions = ClientSessions(ClientSessionExchange(settings), ttl=web_config.session_cache_seconds)
    return Auth(tokens, sessions)


def start_web(source: InventorySource, web_config: Any, *, settings: Any = None, auth: Auth | None = None,
              plan: Any = None, migrate: Any = None, allow_http: bool = False, on_stop: Any = None,
              guest: Any = None, role: Any = None, health: Any = None,
              incidents: IncidentSource | None = None) -> WebServer:
    """Build the app for ``source`` and serve it per ``[web]`` (a config.WebConfig); returns the running
    server (``.url``, ``.stop()``). ``guest``: ``[guest]`` (a config.GuestConfig), the bounds of the guests'
    service levels the pages judge each VM by; ``incidents``: the service's incident lifecycle and the config
    of the audit and what-if (the incident routes and metrics)."""
    from vsguesttruth.errors import ConfigError

    if not (web_config.cert_file and web_config.key_file) and not allow_http:
        raise ConfigError("[web] needs cert_file and key_file: the vSphere Client loads plugins over HTTPS only")
    auth = auth or make_auth(web_config, settings)
    app = create_app(source, auth, plan=plan, migrate=migrate, metrics_anonymous=web_config.metrics_anonymous,
                     guest=guest, role=role, health=health,
                     incidents=incidents)

    def stopped() -> None:
        auth.close()  # the users' cached vCenter sessions are logged out
        if on_stop is not None:
            on_stop()

    return WebServer(app, web_config.listen, web_config.port, cert_file=web_config.cert_file or None,
                     key_file=web_config.key_file or None, on_stop=stopped).start()
