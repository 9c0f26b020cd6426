"""Connecting to vCenter: negotiate the API version, log in, keep the session, log in again.

The settings come from :mod:`.settings`, the TLS trust from :mod:`.tls` (verified by default, a pinned
thumbprint, or an explicit ``insecure``). Every failure becomes a one-line :class:`VsgtError` that says
what to do (:mod:`.faults`); the password never appears in a message or a repr.

A :class:`Connection` can renew its session: :meth:`Connection.reconnect` logs in again with
exponential backoff (tenacity) and bumps :attr:`Connection.generation`, which is how long-lived
users (the watch) learn that their session-scoped objects (views, filters, collectors) are gone
and that they must resync.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit
from xml.etree import ElementTree

from pyVmomi import SoapStubAdapter, vim
from pyVmomi.VmomiSupport import GetServiceVersions, versionIdMap

from . import task
from .errors import CertificateError, ConnectError, SessionExpired, VsgtError
from .faults import is_connection_lost, is_session_lost, translate
from .settings import ConnectionSettings
from .tls import ssl_context

log = logging.getLogger(__name__)

T = TypeVar("T")


def negotiate_version(settings: ConnectionSettings, context: ssl.SSLContext | None) -> str:
    """The newest vim25 API version both pyVmomi and the server speak (vimServiceVersions.xml)."""
    path = urlsplit(settings.url).path.rstrip("/") + "/vimServiceVersions.xml"
    if settings.https:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(settings.host, settings.port, timeout=settings.timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        status = response.status
    finally:
        conn.close()
    supported: set[str] = set()
    if status == 200:
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            root = None
        if root is not None and root.tag == "namespaces":
            for namespace in root.findall("namespace"):
                if (namespace.findtext("name") or "").strip() not in ("urn:vim25", "vim25"):
                    continue
                supported.add((namespace.findtext("version") or "").strip())
                supported.update((v.text or "").strip() for v in namespace.findall("priorVersions/version"))
    for version in GetServiceVersions("vim25"):
        if versionIdMap.get(version) in supported:
            return version
    hint = " (https:// instead of http://?)" if status == 400 and not settings.https else ""
    raise ConnectError(
        f"{settings.url} did not answer like a vCenter (no usable {path}, HTTP {status}): check --url{hint}"
    )


#: HTTPS connections to vCenter kept open for reuse (at least): the watch, remediation and the plugin's side
#: questions each hold one while a call runs, and the publisher asks for one per writer
#: (:meth:`Connection.keep_connections`). pyVmomi's default (5) made most calls of 64 concurrent writers open
#: a TLS connection of their own and close it after.
POOL_SIZE = 16


def _login(settings: ConnectionSettings) -> tuple[Any, Any]:
    """One attempt: negotiate the API version, log in; return ``(service_instance, content)``."""
    context = ssl_context(settings) if settings.https else None
    try:
        version = negotiate_version(settings, context)
        stub = SoapStubAdapter(
            host=settings.host,
            port=settings.port if settings.https else -settings.port,
            path=urlsplit(settings.url).path,
            version=version,
            sslContext=context,
            httpConnectionTimeout=settings.timeout,
            poolSize=POOL_SIZE,
        )
        si = vim.ServiceInstance("ServiceInstance", stub)
        content = si.RetrieveContent()
    except Exception as exc:  # noqa: BLE001 - every cause becomes one clear line
        raise translate(exc, settings) from None
    try:
        content.sessionManager.Login(settings.username, settings.password, None)
    except Exception as exc:  # noqa: BLE001
        # `from None`: the Login request (with the password) is nowhere in the chain.
        raise translate(exc, settings, "log in") from None
    return si, content


def _quiet_logout(si: Any, content: Any) -> None:
    try:
        content.sessionManager.Logout()
    except Exception:  # noqa: BLE001 - usually: that session is gone already
        pass
    try:
        si._stub.DropConnections()
    except Exception:  # noqa: BLE001
        pass


class Connection:
    """A logged-in vCenter session that can renew itself.

    Use :attr:`si` and :attr:`content` afresh on each use: :meth:`reconnect` replaces them.
    :attr:`generation` starts at 0 and grows by one with every new session; anything
    session-scoped (views, property filters, collectors) made under an older generation is gone.
    """

    def __init__(self, settings: ConnectionSettings, si: Any, content: Any) -> None:
        self.settings = settings
        self.si = si
        self.pool_size = POOL_SIZE
        self.content = content
        self.generation = 0
        self._lock = threading.RLock()
        self._keepalive: threading.Thread | None = None
        self._stop = threading.Event()
        self._listeners: list[Callable[["Connection"], None]] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"<Connection {self.settings.url} user={self.settings.username!r} generation={self.generation}>"

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def session_key(self) -> str:
        """The current session's key (what SessionManager.TerminateSession takes)."""
        session = self.content.sessionManager.currentSession
        return session.key if session else ""

    def about(self) -> dict[str, str]:
        """Which vCenter this is (``ServiceContent.about``): its instance UUID (the ``serverGuid`` the vSphere
        Client puts in object ids, ``urn:vmomi:VirtualMachine:vm-51:<instanceUuid>``), name and version."""
        about = self.content.about
        host = urlsplit(self.settings.url).hostname or ""
        return {"instance_uuid": str(getattr(about, "instanceUuid", "") or ""), "name": host,
                "full_name": str(about.fullName or ""), "api_version": str(about.apiVersion or ""),
                "api_type": str(about.apiType or "")}

    def on_reconnect(self, callback: Callable[["Connection"], None]) -> None:
        """Call ``callback(conn)`` after every successful reconnect (resync hook)."""
        self._listeners.append(callback)

    def keep_connections(self, count: int) -> None:
        """Keep at least ``count`` HTTPS connections open for reuse (calls made at once: a writer pool's size),
        now and after a reconnect."""
        self.pool_size = max(self.pool_size, count)
        self.si._stub.poolSize = max(self.si._stub.poolSize, count)

    def ping(self) -> None:
        """One keep-alive round trip; raises the translated error if the session is gone."""
        try:
            self.si.CurrentTime()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, self.settings, "keep the session alive") from None

    def reconnect(self, seen_generation: int | None = None) -> int:
        """Log in again with exponential backoff; return the new generation.

        Pass the generation you saw fail as ``seen_generation``: if somebody else already
        reconnected since, nothing is done. Gives up after ``settings.reconnect_timeout`` seconds,
        or at once on a wrong password or an untrusted certificate.
        """
        with self._lock:
            if self.closed:
                raise SessionExpired(f"the connection to {self.url} is closed")
            if seen_generation is not None and seen_generation != self.generation:
                return self.generation
            old = self.si
            try:
                old._stub.DropConnections()
            except Exception:  # noqa: BLE001
                pass
            retrying = task.retrying(
                within=self.settings.reconnect_timeout, first=0.25, longest=5.0,
                retry_if=lambda e: isinstance(e, ConnectError) and not isinstance(e, CertificateError),
                on_retry=lambda err, _: log.warning("reconnect to %s failed (%s); retrying", self.url, err),
            )
            si, content = retrying(_login, self.settings)
            si._stub.poolSize = max(si._stub.poolSize, self.pool_size)
            old_content = self.content
            self.si, self.content = si, content
            self.generation += 1
            # If the old session survived (a network blip), don't leave it to expire on vCenter.
            threading.Thread(target=_quiet_logout, args=(old, old_content), daemon=True).start()
            log.info("reconnected to %s (generation %d)", self.url, self.generation)
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception:  # noqa: BLE001
                log.exception("reconnect listener failed")
        return self.generation

    def run(self, fn: Callable[[], T], during: str = "") -> T:
        """Run an idempotent call, once more after a lost session or connection (logged in again) or a
        transient fault (:func:`.task.run`). Errors come out translated (:class:`VsgtError`)."""
        return task.run(self, fn, during)

    def start_keepalive(self, interval: float = 300.0) -> None:
        """Ping every ``interval`` seconds from a daemon thread; reconnect if the session dropped."""
        if self._keepalive is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                generation = self.generation
                try:
                    self.si.CurrentTime()
                except Exception as exc:  # noqa: BLE001
                    if self._stop.is_set():
                        return
                    if is_session_lost(exc) or is_connection_lost(exc):
                        try:
                            self.reconnect(generation)
                        except VsgtError as err:
                            log.warning("keep-alive could not reconnect: %s", err)
                    else:
                        log.warning("keep-alive: %s", translate(exc, self.settings))

        self._keepalive = threading.Thread(target=loop, name="vsgt-keepalive", daemon=True)
        self._keepalive.start()

    def close(self) -> None:
        """Log out (best effort) and drop the HTTP connections."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        try:
            self.content.sessionManager.Logout()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.si._stub.DropConnections()
        except Exception:  # noqa: BLE001
            pass


def vcenter_major(conn: Connection) -> int:
    """The vCenter product's major version (``about.version`` ``"8.0.2"`` -> 8); 0 when it does not say."""
    version = str(getattr(conn.content.about, "version", "") or "")
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def connect(settings: ConnectionSettings, *, keepalive: float | None = None) -> Connection:
    """Log in to vCenter; raise a one-line :class:`VsgtError` if that fails.

    ``keepalive``: ping interval in seconds for a background keep-alive thread (off by default;
    a running watch keeps the session alive by itself).
    """
    si, content = _login(settings)
    conn = Connection(settings, si, content)
    if keepalive:
        conn.start_keepalive(keepalive)
    return conn
