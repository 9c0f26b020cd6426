"""The vSphere Client user's own vCenter session, for the plugin server: token -> clone ticket -> SOAP session.

The vSphere Client (8.0) hands a remote plugin's page a session token (``htmlClientSdk.app.getSessionInfo()``).
:class:`ClientSessionExchange` turns it into a SOAP session of the same user: a clone ticket from the API
gateway (:mod:`.automation.ticket`, plain HTTPS with the connection's TLS trust), then
``SessionManager.CloneSession(ticket)`` on ``/sdk``. The :class:`UserSession` it returns answers authorisation
questions as that user (``AuthorizationManager.HasPrivilegeOnEntity`` with the cloned session's key) and is
logged out by whoever caches it. Tokens, tickets and session keys are never logged nor put in a message.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlsplit

from pyVmomi import SoapStubAdapter, vim

from .automation.ticket import CloneTickets
from .connect import negotiate_version
from .faults import translate
from .settings import ConnectionSettings
from .tls import ssl_context

_TOKEN = re.compile(r"^[A-Za-z0-9._:+/=-]{8,512}$")
_MOREF = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class UserSession:
    """A vSphere Client user's SOAP session (cloned): who it is, and what that user may do."""

    def __init__(self, settings: ConnectionSettings, si: Any, user: str) -> None:
        self.settings = settings
        self.user = user
        self._si = si
        self._lock = threading.Lock()
        self.closed = False

    def __repr__(self) -> str:
        return f"<UserSession {self.user!r} on {self.settings.url}>"

    def has_privilege(self, vm_moref: str, privilege: str) -> bool | None:
        """Whether the user holds ``privilege`` on VM ``vm_moref``; None when the user's vCenter session is gone
        (vCenter ended it: clone a new one)."""
        if not _MOREF.match(vm_moref or ""):
            return False
        with self._lock:
            try:
                content = self._si.RetrieveContent()
                session = content.sessionManager.currentSession
                if session is None:
                    return None
                vm = vim.VirtualMachine(vm_moref, self._si._stub)
                answer = content.authorizationManager.HasPrivilegeOnEntity(vm, session.key, [privilege])
                return bool(answer and all(answer))
            except vim.fault.NotAuthenticated:
                return None
            except vim.fault.ManagedObjectNotFound:
                return False
            except Exception as exc:  # noqa: BLE001 - vCenter unreachable: refuse
                raise translate(exc, self.settings, "check a vSphere Client user's privilege") from None
            finally:
                _drop(self._si)

    def logout(self) -> None:
        """End the cloned session on vCenter (best effort)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._si.RetrieveContent().sessionManager.Logout()
            except Exception:  # noqa: BLE001 - gone already, or vCenter away: it ends on its own
                pass
            finally:
                _drop(self._si)


class ClientSessionExchange:
    """Session tokens of the vSphere Client in, :class:`UserSession` out (see the module docstring)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._version: str | None = None
        self._tickets: CloneTickets | None = None
        self._lock = threading.Lock()

    def _stub(self) -> Any:
        context = ssl_context(self.settings) if self.settings.https else None
        if self._version is None:
            try:
                self._version = negotiate_version(self.settings, context)
            except Exception as exc:  # noqa: BLE001 - one line, whatever the cause
                raise translate(exc, self.settings, "reach vCenter") from None
        return SoapStubAdapter(
            host=self.settings.host, port=self.settings.port if self.settings.https else -self.settings.port,
            path=urlsplit(self.settings.url).path, version=self._version, sslContext=context,
            httpConnectionTimeout=min(self.settings.timeout, 15.0))

    def tickets(self) -> CloneTickets:
        """The clone-ticket client, made with this vCenter's ``about.instanceUuid`` on first use."""
        with self._lock:
            if self._tickets is None:
                si = vim.ServiceInstance("ServiceInstance", self._stub())
                try:
                    guid = si.RetrieveContent().about.instanceUuid or ""
                except Exception as exc:  # noqa: BLE001
                    raise translate(exc, self.settings, "read vCenter's instance uuid") from None
                finally:
                    _drop(si)
                self._tickets = CloneTickets(self.settings, guid)
            return self._tickets

    def exchange(self, token: str) -> UserSession | None:
        """The SOAP session of the user whose vSphere Client session ``token`` is; None when vCenter does not
        know the token or refuses the ticket. Raises a one-line VsgtError when vCenter cannot be asked."""
        if not _TOKEN.match(token or ""):
            return None
        ticket = self.tickets().ticket(token)
        if ticket is None:
            return None
        si = vim.ServiceInstance("ServiceInstance", self._stub())
        try:
            session = si.RetrieveContent().sessionManager.CloneSession(ticket)
        except vim.fault.InvalidLogin:
            _drop(si)
            return None
        except Exception as exc:  # noqa: BLE001
            _drop(si)
            raise translate(exc, self.settings, "clone a vSphere Client session") from None
        _drop(si)
        return UserSession(self.settings, si, str(session.userName))

    def close(self) -> None:
        if self._tickets is not None:
            self._tickets.close()


def _drop(si: Any) -> None:
    """Close the stub's connections; its session cookie stays for the next call."""
    try:
        si._stub.DropConnections()
    except Exception:  # noqa: BLE001
        pass


__all__ = ["ClientSessionExchange", "UserSession"]
