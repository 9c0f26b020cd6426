"""The vSphere Client user's session in the plugin server: the token the page hands over, exchanged once for a
vCenter session of that user, cached, and logged out when it leaves the cache.

The page gets a token from ``htmlClientSdk.app.getSessionInfo()`` and sends it as ``vmware-api-session-id``.
:class:`ClientSessions` (the :class:`~.auth.SessionChecker` of :class:`~.auth.Auth`) turns it into a SOAP session
of the same user through the vCenter edge (``ClientSessionExchange``: a clone ticket from the API gateway, then
``SessionManager.CloneSession``) and keeps it for ``ttl`` seconds, keyed by a SHA-256 of the token (the token
itself is neither kept nor logged), at most ``max_entries`` of them; a token vCenter does not know is refused
for ``negative_ttl`` seconds without asking again. A session that leaves the cache (expired, evicted, replaced,
closed) is logged out on vCenter from a worker thread. Authorisation questions (``Resource.HotMigrate`` on a
VM for the move action) are asked with that session: vCenter answers for the user, never for our service
account. The middleware authenticates before a body is read, and rate-limits the exchanges not answered from
the cache (:mod:`.ratelimit`).
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from vsguesttruth.errors import VsgtError
from vsguesttruth.ttlcache import TTLCache

log = logging.getLogger(__name__)

NEGATIVE_TTL = 10.0  # seconds a token vCenter did not know is refused without asking again
MAX_TOKEN = 512


class UserSession(Protocol):
    user: str

    def has_privilege(self, vm_moref: str, privilege: str) -> bool | None: ...
    def logout(self) -> None: ...


class Exchange(Protocol):
    """The vCenter edge's ``ClientSessionExchange``."""

    def exchange(self, token: str) -> UserSession | None: ...


def token_key(token: str) -> str:
    """What the cache knows a token by: its SHA-256, never the token."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogateescape")).hexdigest()


class ClientSessions:
    """vSphere Client tokens -> users' vCenter sessions, cached (see the module docstring)."""

    def __init__(self, exchange: Exchange, ttl: float = 60.0, max_entries: int = 1000,
                 negative_ttl: float = NEGATIVE_TTL) -> None:
        self.exchange = exchange
        self.ttl = ttl
        self.negative_ttl = min(ttl, negative_ttl)
        self._logouts = ThreadPoolExecutor(1, thread_name_prefix="vsgt-logout")
        self._sessions: TTLCache[Any] = TTLCache(max_entries, on_evict=self._evicted)
        self._privileges: TTLCache[bool] = TTLCache(max_entries * 4)
        #: exchanges that failed because vCenter did not answer (a metric)
        self.errors = 0
        self.exchanges = 0
        self.logouts = 0

    def _evicted(self, session: Any) -> None:
        if session is None:
            return
        try:
            self._logouts.submit(self._logout, session)
        except RuntimeError:  # closed: log out here
            self._logout(session)

    def _logout(self, session: UserSession) -> None:
        session.logout()
        self.logouts += 1

    def known(self, token: str) -> bool:
        """Whether :meth:`user` answers ``token`` from the cache (no vCenter round trip)."""
        return self._sessions.get(token_key(token))[0]

    def _session(self, token: str) -> UserSession | None:
        if not token or len(token) > MAX_TOKEN:
            return None
        key = token_key(token)
        hit, session = self._sessions.get(key)
        if hit:
            return session
        self._sessions.expire()  # log out what expired meanwhile
        try:
            session = self.exchange.exchange(token)
        except VsgtError as err:
            self.errors += 1
            log.warning("cannot check a vSphere Client session with vCenter: %s", err)
            return None
        self.exchanges += 1
        self._sessions.put(key, session, self.ttl if session is not None else self.negative_ttl)
        return session

    def user(self, token: str) -> str | None:
        """The user whose vSphere Client session ``token`` is, or None (unknown, expired, forged)."""
        session = self._session(token)
        return session.user if session is not None else None

    def has_privilege(self, token: str, vm_moref: str, privilege: str) -> bool:
        """Whether the token's user holds ``privilege`` on VM ``vm_moref``, as vCenter says to that user."""
        key = (token_key(token), vm_moref, privilege)
        hit, allowed = self._privileges.get(key)
        if hit:
            return bool(allowed)
        for _ in range(2):
            session = self._session(token)
            if session is None:
                return False
            try:
                answer = session.has_privilege(vm_moref, privilege)
            except VsgtError as err:
                self.errors += 1
                log.warning("cannot check a vSphere Client user's privilege with vCenter: %s", err)
                return False
            if answer is not None:
                self._privileges.put(key, answer, self.ttl)
                return answer
            self._sessions.pop(token_key(token))  # vCenter ended the cloned session: clone a new one
        return False

    def close(self) -> None:
        """Log every cached session out."""
        self._sessions.clear()
        self._logouts.shutdown(wait=True)
