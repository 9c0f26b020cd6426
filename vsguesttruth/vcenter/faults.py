"""What went wrong talking to vCenter, in one line: pyVmomi faults, TLS and socket errors translated into
:class:`~vsguesttruth.errors.VsgtError` subclasses that say what to do, and the two losses a client
recovers from by logging in again (a session that ended, a connection that dropped)."""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any

from pyVmomi import vim, vmodl

from .errors import ApiError, AuthError, CertificateError, ConnectError, SessionExpired, VsgtError
from .settings import ConnectionSettings
from .tls import server_thumbprint


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


def fault_name(fault: Any) -> str:
    """A pyVmomi fault's vSphere name (``InvalidArgument``), without its module path."""
    return type(fault).__name__.rsplit(".", 1)[-1]


def fault_text(fault: Any) -> str:
    """A fault as one short line: vCenter's localized message and the fault's name."""
    msg = (getattr(fault, "localizedMessage", "") or getattr(fault, "msg", "") or "").strip()
    name = fault_name(fault)
    return f"{msg} ({name})" if msg else name
