"""A session with vCenter's Automation API (the vSphere Automation SDK, vAPI JSON-RPC on ``/api``).

:class:`Automation` logs in with the same connection settings as SOAP (user, password, TLS trust), keeps the
session id, and runs every operation through :meth:`Automation.call`: a session that ended
(``Unauthenticated``: timed out, terminated, vCenter restarted) is logged in again once, a dropped connection
or ``ServiceUnavailable`` is tried once more, anything else becomes one line of the project's error tree
(:func:`translate`). The SDK's binding classes are made here and stay in this package: callers get plain
data from the service modules (tagging, data sets), never a vAPI type.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, TypeVar

import requests
from com.vmware.cis_client import Session
from com.vmware.vapi.std import errors_client as vapi_errors
from vmware.vapi.bindings.error import VapiError
from vmware.vapi.lib.connect import get_requests_connector
from vmware.vapi.security.client.security_context_filter import LegacySecurityContextFilter
from vmware.vapi.security.session import create_session_security_context
from vmware.vapi.security.user_password import create_user_password_security_context
from vmware.vapi.stdlib.client.factories import StubConfigurationFactory

from ..errors import ApiError, AuthError, CertificateError, ConnectError, NotFound, SessionExpired, VsgtError
from ..settings import ConnectionSettings
from ..tls import server_thumbprint
from .transport import api_url, http_session

log = logging.getLogger(__name__)

T = TypeVar("T")

#: worth one more try: vCenter's API gateway busy or restarting, a connection that dropped
_AGAIN = (vapi_errors.ServiceUnavailable, requests.ConnectionError, requests.Timeout)


class Automation:
    """A logged-in Automation API session that logs in again when its session ends.

    ``generation`` grows with every login. ``calls`` counts the operations sent (tests, the benchmark).
    """

    def __init__(self, settings: ConnectionSettings, *, pool: int = 8) -> None:
        self.settings = settings
        self.url = api_url(settings)
        self.http = http_session(settings, pool)
        self.generation = 0
        self.calls = 0
        self._lock = threading.Lock()
        self._session_id: str | None = None
        self._config: Any = None
        self._services: dict[type, Any] = {}
        self.closed = False

    def __repr__(self) -> str:
        return f"<Automation {self.url} user={self.settings.username!r} generation={self.generation}>"

    def __enter__(self) -> "Automation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the session --------------------------------------------------------------------------------

    def _stub_config(self, security_context: Any) -> Any:
        connector = get_requests_connector(
            session=self.http, url=self.url, timeout=self.settings.timeout, pool_size=0,  # our adapter stays
            provider_filter_chain=[LegacySecurityContextFilter(security_context=security_context)])
        return StubConfigurationFactory.new_std_configuration(connector)

    def login(self) -> "Automation":
        """Log in (``com.vmware.cis.session.create`` with the user and password); raises a one-line error."""
        login = self._stub_config(create_user_password_security_context(self.settings.username,
                                                                        self.settings.password))
        try:
            session_id = Session(login).create()
        except vapi_errors.Unauthenticated:
            raise AuthError(
                f"vCenter at {self.settings.url} rejected the user name or password for its Automation API "
                f"(user {self.settings.username!r}): check --username and the password") from None
        except Exception as exc:  # noqa: BLE001 - every cause becomes one line, the password in none
            raise translate(exc, self.settings, "log in to the Automation API") from None
        self._session_id = session_id
        self._config = self._stub_config(create_session_security_context(session_id))
        self._services = {}
        self.generation += 1
        return self

    @property
    def session_id(self) -> str:
        """The session's id: what the vSphere Client hands its plugins as ``vmware-api-session-id`` (a secret:
        never logged)."""
        return self._session_id or ""

    def relogin(self, seen_generation: int) -> None:
        """Log in again, unless someone did since ``seen_generation``."""
        with self._lock:
            if self.closed:
                raise SessionExpired(f"the Automation API session with {self.settings.url} is closed")
            if seen_generation == self.generation:
                log.info("Automation API session with %s ended; logging in again", self.settings.url)
                self.login()

    def service(self, binding: type) -> Any:
        """The SDK's service ``binding`` (e.g. ``TagAssociation``) on the current session."""
        found = self._services.get(binding)
        if found is None:
            found = self._services[binding] = binding(self._config)
        return found

    def call(self, what: str, fn: Callable[[], T], *, expect: tuple[type, ...] = ()) -> T:
        """Run one operation (``fn`` calls :meth:`service` afresh): after a session that ended it logs in and
        tries once more, as after a dropped connection. A vAPI error of a type in ``expect`` is raised as it is
        (the service modules turn those into plain answers); any other failure is a one-line VsgtError."""
        for attempt in (1, 2):
            generation = self.generation
            self.calls += 1
            try:
                return fn()
            except expect:
                raise
            except vapi_errors.Unauthenticated:
                if attempt == 2:
                    raise SessionExpired(f"the Automation API session with {self.settings.url} ended again "
                                         f"right after a new login ({what})") from None
                self.relogin(generation)
            except _AGAIN as exc:
                if attempt == 2:
                    raise translate(exc, self.settings, what) from None
                time.sleep(0.2)
            except VsgtError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise translate(exc, self.settings, what) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Log out (best effort) and drop the HTTP connections."""
        if self.closed:
            return
        self.closed = True
        if self._config is not None:
            try:
                Session(self._config).delete()
            except Exception:  # noqa: BLE001 - usually: the session is gone already
                pass
        self.http.close()


def connect_automation(settings: ConnectionSettings, *, pool: int = 8) -> Automation:
    """Log in to the Automation API of the vCenter ``settings`` name; raises a one-line VsgtError."""
    return Automation(settings, pool=pool).login()


def messages(exc: BaseException) -> str:
    """What a vAPI error says, its messages joined (vCenter's own words)."""
    texts = [str(getattr(m, "default_message", "") or "").strip() for m in getattr(exc, "messages", None) or ()]
    return "; ".join(t for t in texts if t)


def translate(exc: BaseException, settings: ConnectionSettings, what: str) -> VsgtError:
    """A vAPI error, or what requests raised, as one line of the project's error tree."""
    url = settings.url
    if isinstance(exc, VsgtError):
        return exc
    said = _scrub(messages(exc), settings)
    detail = f": {said}" if said else ""
    if isinstance(exc, vapi_errors.Unauthenticated):
        return SessionExpired(f"the Automation API session with {url} ended ({what}): log in again")
    if isinstance(exc, vapi_errors.Unauthorized):
        return AuthError(f"user {settings.username!r} may not {what} on vCenter at {url}{detail}: "
                         "grant it a role with the privilege (vsguesttruth role)")
    if isinstance(exc, vapi_errors.NotFound):
        return NotFound(f"vCenter at {url} cannot {what}: not found{detail}")
    if isinstance(exc, VapiError):
        name = type(exc).__name__
        return ApiError(f"vCenter at {url} refused to {what}: {name}{detail}")
    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "did not match" in text or "hostname" in text.lower():
            seen = server_thumbprint(settings.host, settings.port)
            return CertificateError(
                f"certificate of {url} is not trusted by the Automation API client ({what}): use --ca-file FILE, "
                f"--thumbprint {seen or 'AA:BB:..'} or --insecure", seen_thumbprint=seen)
        return ConnectError(f"TLS handshake with {url} failed ({what}): check --url")
    if isinstance(exc, requests.Timeout):
        return ConnectError(f"vCenter at {url} did not answer within {settings.timeout:g} s ({what}); "
                            "check the network")
    if isinstance(exc, requests.ConnectionError):
        return ConnectError(f"cannot reach vCenter's Automation API at {url} ({what}): check --url and that "
                            "vCenter is up")
    return ConnectError(_scrub(f"talking to vCenter's Automation API at {url} failed ({what}): "
                               f"{type(exc).__name__}: {exc}", settings))


def _scrub(message: str, settings: ConnectionSettings) -> str:
    if settings.password and len(settings.password) >= 4:
        message = message.replace(settings.password, "***")
    return message


__all__ = ["Automation", "connect_automation", "messages", "translate"]
