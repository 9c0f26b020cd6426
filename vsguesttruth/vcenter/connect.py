"""Connecting to vCenter: settings from options/config/environment, TLS trust, login, reconnect.

Trust is verified by default (system CAs plus ``ca_file``); ``thumbprint`` pins the server
certificate instead (SHA-1, or SHA-256, of its DER bytes, checked on every TLS connection);
``insecure`` is an explicit opt-out. Every failure becomes a one-line :class:`VsgtError` that says
what to do; the password never appears in a message or a repr.

A :class:`Connection` can renew its session: :meth:`Connection.reconnect` logs in again with
exponential backoff (tenacity) and bumps :attr:`Connection.generation`, which is how long-lived
users (the watch) learn that their session-scoped objects (views, filters, collectors) are gone
and that they must resync.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import tenacity
from pyVmomi import SoapStubAdapter, vim, vmodl
from pyVmomi.VmomiSupport import GetServiceVersions, versionIdMap

from .errors import (
    ApiError,
    AuthError,
    CertificateError,
    ConfigError,
    ConnectError,
    SessionExpired,
    VsgtError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PATH = "/sdk"
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


# --------------------------------------------------------------------------------------------
# Settings


def parse_url(raw: str) -> tuple[str, str | None, str | None]:
    """Normalise a vCenter URL; return ``(url, user, password)`` with credentials taken out.

    Accepts what govc accepts in ``GOVC_URL``: a bare host (``vc.example.com``), ``host:port``,
    ``user:pass@host``, or a full ``https://host/sdk``. The scheme defaults to https and the path
    to ``/sdk``.
    """
    text = (raw or "").strip()
    if not text:
        raise ConfigError("the vCenter URL is empty: pass --url or set VSGT_URL")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(f"cannot parse the vCenter URL {_redact_url(raw)!r}: check --url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"the vCenter URL must be https:// or http://, not {scheme}://: check --url")
    host = parts.hostname
    if not host:
        raise ConfigError(f"the vCenter URL {_redact_url(raw)!r} names no host: check --url")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return f"{scheme}://{netloc}{path}", user, password


def _redact_url(raw: str) -> str:
    """The URL without its ``user:pass@`` part, for messages: everything up to the last ``@`` goes, as a
    password may hold ``@``, ``/``, ``#`` or ``:`` that would end the user part early."""
    if "@" not in raw:
        return raw
    scheme = re.match(r"\s*[A-Za-z][A-Za-z0-9+.-]*://", raw)
    return (scheme.group(0) if scheme else "") + raw.rsplit("@", 1)[1]


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def normalize_thumbprint(value: str) -> str:
    """``aa:bb:..`` / ``AABB..`` -> ``AA:BB:..``; SHA-1 (20 bytes) or SHA-256 (32 bytes)."""
    hexdigits = re.sub(r"[\s:]", "", value or "").upper()
    if len(hexdigits) not in (40, 64) or not re.fullmatch(r"[0-9A-F]+", hexdigits):
        raise ConfigError(
            f"--thumbprint {value!r} is not a SHA-1 thumbprint (20 hex bytes like AA:BB:..): "
            "copy it from the error message or `openssl x509 -fingerprint -sha1`"
        )
    return ":".join(hexdigits[i : i + 2] for i in range(0, len(hexdigits), 2))


def thumbprint_of(der: bytes, length: int = 20) -> str:
    """Colon-hex SHA-1 (``length`` 20) or SHA-256 (32) of a DER certificate."""
    digest = hashlib.sha1(der) if length == 20 else hashlib.sha256(der)
    return ":".join(f"{b:02X}" for b in digest.digest())


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to log in. ``repr()`` never shows the password."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    insecure: bool = False
    thumbprint: str | None = None
    ca_file: str | None = None
    #: seconds before an HTTP request gives up (WaitForUpdatesEx waits a little less than this)
    timeout: float = 60.0
    #: how long reconnect() keeps trying (exponential backoff) before giving up
    reconnect_timeout: float = 300.0

    def __post_init__(self) -> None:
        url, user, password = parse_url(self.url)
        object.__setattr__(self, "url", url)
        if user and not self.username:
            object.__setattr__(self, "username", user)
        if password is not None and not self.password:
            object.__setattr__(self, "password", password)
        if self.thumbprint:
            object.__setattr__(self, "thumbprint", normalize_thumbprint(self.thumbprint))
        else:
            object.__setattr__(self, "thumbprint", None)
        object.__setattr__(self, "ca_file", self.ca_file or None)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")

    @classmethod
    def from_sources(
        cls,
        options: Mapping[str, Any] | None = None,
        config_file_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "ConnectionSettings":
        """Merge, highest first: explicit options, the config file, ``VSGT_*``, govc's ``GOVC_*``.

        ``options`` and ``config_file_values`` use the keys ``url``, ``username`` (or ``user``),
        ``password``, ``insecure``, ``thumbprint``, ``ca_file`` (or ``ca-file``), ``timeout``;
        a ``None`` value means "not given" (pass ``None``, not ``False``, for an unset
        ``--insecure`` flag so the environment can still turn it on). A URL may embed
        ``user:pass@``; those count at the URL's level. ``environ`` defaults to ``os.environ``.
        """
        env = os.environ if environ is None else environ
        layers = [
            _layer(options, "option"),
            _layer(config_file_values, "config file"),
            _env_layer(env, "VSGT_", {"CA_FILE": "ca_file", "THUMBPRINT": "thumbprint"}),
            _env_layer(env, "GOVC_", {"TLS_CA_CERTS": "ca_file"}),
        ]
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in layer.items():
                merged.setdefault(key, value)
        if "url" not in merged:
            raise ConfigError("no vCenter URL: pass --url, put url in the config file, or set VSGT_URL")
        if not merged.get("username"):
            raise ConfigError(
                f"no user name for {merged['url']}: pass --username, put username in the config file, "
                "or set VSGT_USERNAME"
            )
        kwargs: dict[str, Any] = {
            "url": merged["url"],
            "username": merged["username"],
            "password": merged.get("password") or "",
            "insecure": merged.get("insecure", False),
            "thumbprint": merged.get("thumbprint"),
            "ca_file": merged.get("ca_file"),
        }
        if "timeout" in merged:
            try:
                kwargs["timeout"] = float(merged["timeout"])
            except (TypeError, ValueError):
                raise ConfigError(f"timeout must be a number of seconds, not {merged['timeout']!r}") from None
        return cls(**kwargs)


_ALIASES = {"user": "username", "ca-file": "ca_file", "cafile": "ca_file", "ca_cert": "ca_file"}
_KEYS = {"url", "username", "password", "insecure", "thumbprint", "ca_file", "timeout"}


def _layer(values: Mapping[str, Any] | None, origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in (values or {}).items():
        key = _ALIASES.get(raw_key, raw_key.replace("-", "_"))
        if key not in _KEYS or value is None or value == "":
            continue
        out[key] = value
    return _finish_layer(out, origin)


def _env_layer(environ: Mapping[str, str], prefix: str, extra: Mapping[str, str]) -> dict[str, Any]:
    names = {"URL": "url", "USERNAME": "username", "PASSWORD": "password", "INSECURE": "insecure", **extra}
    out = {key: environ[prefix + name] for name, key in names.items() if environ.get(prefix + name)}
    return _finish_layer(out, prefix + "*")


def _finish_layer(layer: dict[str, Any], origin: str) -> dict[str, Any]:
    if "url" in layer:
        url, user, password = parse_url(str(layer["url"]))
        layer["url"] = url
        if user and "username" not in layer:
            layer["username"] = user
        if password is not None and "password" not in layer:
            layer["password"] = password
    if "insecure" in layer:
        name = "--insecure" if origin == "option" else f"insecure ({origin})"
        layer["insecure"] = parse_bool(layer["insecure"], name)
    if "thumbprint" in layer:
        layer["thumbprint"] = normalize_thumbprint(str(layer["thumbprint"]))
    return layer


# --------------------------------------------------------------------------------------------
# TLS


class _PinnedContext(ssl.SSLContext):
    """An SSL context that accepts exactly one certificate: the one with the pinned thumbprint.

    CA verification is off (a pinned self-signed certificate is the point), and the pin is checked
    on every handshake, not only the first one.
    """

    pin: str = ""
    url: str = ""

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        sock = super().wrap_socket(*args, **kwargs)
        der = sock.getpeercert(binary_form=True)
        length = len(self.pin.replace(":", "")) // 2
        seen = thumbprint_of(der, length) if der else "(none)"
        if seen != self.pin:
            sock.close()
            raise CertificateError(
                f"certificate of {self.url} has thumbprint {seen}, not the pinned {self.pin}: "
                "check --thumbprint (the server's certificate changed, or this is not your vCenter)",
                seen_thumbprint=seen,
            )
        return sock


_contexts: dict[tuple, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The TLS trust the settings ask for: verified (default), pinned, or insecure.

    One context per settings (and CA file version), reused by every reconnect: a context holds the system's
    CA store, a megabyte or two, and a service that reconnects for weeks should not build one each time.
    """
    try:
        stamp = os.stat(settings.ca_file).st_mtime_ns if settings.ca_file else 0
    except OSError:
        stamp = -1
    key = (settings, stamp)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = _new_ssl_context(settings)
            if len(_contexts) >= 16:
                _contexts.clear()
            _contexts[key] = ctx
        return ctx


def _new_ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    if settings.thumbprint:
        ctx = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.pin = settings.thumbprint
        ctx.url = settings.url
        return ctx
    if settings.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()
    if settings.ca_file:
        try:
            ctx.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"cannot read --ca-file {settings.ca_file}: {reason}") from None
    return ctx


def server_thumbprint(host: str, port: int, timeout: float = 5.0) -> str:
    """Fetch the server's certificate without trusting it and return its SHA-1 thumbprint, or ""."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return ""
    return thumbprint_of(der) if der else ""


# --------------------------------------------------------------------------------------------
# Errors


def is_session_lost(exc: BaseException) -> bool:
    """The session is gone: log in again (and resync anything session-scoped)."""
    return isinstance(exc, (vim.fault.NotAuthenticated, SessionExpired))


def is_connection_lost(exc: BaseException) -> bool:
    """The network or the server went away mid-call: reconnect."""
    if isinstance(exc, (CertificateError, ssl.SSLCertVerificationError)):
        return False
    if isinstance(exc, ConnectError):
        return True
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return True
    if isinstance(exc, vim.fault.HostConnectFault):  # pyVim's wrapper around the above
        return True
    return False


def translate(exc: BaseException, settings: ConnectionSettings, during: str = "") -> VsgtError:
    """Turn whatever pyVmomi, ssl or the socket raised into one clear line."""
    url = settings.url
    if isinstance(exc, VsgtError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        seen = server_thumbprint(settings.host, settings.port)
        pin = seen or "AA:BB:.."
        return CertificateError(
            f"certificate of {url} is not trusted ({reason}): use --ca-file FILE, "
            f"--thumbprint {pin} or --insecure",
            seen_thumbprint=seen,
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        return ConnectError(
            f"TLS handshake with {url} failed ({reason}): check --url (https:// or http://?)"
        )
    if isinstance(exc, vim.fault.InvalidLogin):
        return AuthError(
            f"vCenter at {url} rejected the user name or password (user {settings.username!r}): "
            "check --username and the password (VSGT_PASSWORD, the config file, --password-stdin)"
        )
    if isinstance(exc, vim.fault.NoPermission) and not isinstance(exc, vim.fault.NotAuthenticated):
        privilege = getattr(exc, "privilegeId", "") or "a privilege"
        return AuthError(
            f"user {settings.username!r} lacks {privilege} on vCenter at {url}"
            f"{' for ' + during if during else ''}: grant it a role that has it"
        )
    if isinstance(exc, vim.fault.NotAuthenticated):
        return SessionExpired(f"the session with vCenter at {url} ended: reconnect (log in again)")
    if isinstance(exc, vim.fault.HostConnectFault) and isinstance(exc.__context__, BaseException):
        return translate(exc.__context__, settings, during)
    if isinstance(exc, vmodl.MethodFault):
        name = type(exc).__name__.rsplit(".", 1)[-1]
        detail = getattr(exc, "msg", "") or ""
        what = f" to {during}" if during else ""
        return ApiError(_scrub(f"vCenter at {url} refused the call{what}: {name} {detail}".strip(), settings))
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"cannot reach vCenter at {url}: connection refused; check --url")
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"cannot reach vCenter at {url}: unknown host {settings.host!r}; check --url")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return ConnectError(
            f"cannot reach vCenter at {url}: no answer within {settings.timeout:g} s; "
            "check --url and the network"
        )
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                        ConnectionAbortedError)):
        return ConnectError(
            f"vCenter at {url} closed the connection; check --url (https:// or http://?) and that vCenter is up"
        )
    if isinstance(exc, http.client.HTTPException):
        return ConnectError(_scrub(f"vCenter at {url} answered HTTP {exc}; check --url (path /sdk?)", settings))
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return ConnectError(_scrub(f"cannot reach vCenter at {url}: {reason}; check --url", settings))
    return ConnectError(_scrub(f"talking to vCenter at {url} failed: {type(exc).__name__}: {exc}", settings))


def _scrub(message: str, settings: ConnectionSettings) -> str:
    if settings.password and len(settings.password) >= 4:
        message = message.replace(settings.password, "***")
    return message


# --------------------------------------------------------------------------------------------
# Connection


def _negotiate_version(settings: ConnectionSettings, context: ssl.SSLContext | None) -> str:
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


def _login(settings: ConnectionSettings) -> tuple[Any, Any]:
    """One attempt: negotiate the API version, log in; return ``(service_instance, content)``."""
    context = ssl_context(settings) if settings.https else None
    try:
        version = _negotiate_version(settings, context)
        stub = SoapStubAdapter(
            host=settings.host,
            port=settings.port if settings.https else -settings.port,
            path=urlsplit(settings.url).path,
            version=version,
            sslContext=context,
            httpConnectionTimeout=settings.timeout,
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

    def on_reconnect(self, callback: Callable[["Connection"], None]) -> None:
        """Call ``callback(conn)`` after every successful reconnect (resync hook)."""
        self._listeners.append(callback)

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
            retrying = tenacity.Retrying(
                retry=tenacity.retry_if_exception(
                    lambda e: isinstance(e, ConnectError) and not isinstance(e, CertificateError)
                ),
                wait=tenacity.wait_exponential(multiplier=0.25, min=0.25, max=5),
                stop=tenacity.stop_after_delay(self.settings.reconnect_timeout),
                before_sleep=lambda state: log.warning(
                    "reconnect to %s failed (%s); retrying", self.url, state.outcome.exception()
                ),
                reraise=True,
            )
            si, content = retrying(_login, self.settings)
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
        """Run an idempotent call; on a lost session or connection, reconnect once and re-run it.

        Errors come out translated (:class:`VsgtError`).
        """
        generation = self.generation
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            if not (is_session_lost(exc) or is_connection_lost(exc)):
                raise translate(exc, self.settings, during) from None
        self.reconnect(generation)
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, self.settings, during) from None

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
