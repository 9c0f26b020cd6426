"""Who may read and who may act: API tokens and vCenter sessions.

Every request to the JSON API (and /metrics) must carry one of:

- ``Authorization: Bearer TOKEN`` -- a token from the API tokens file (``[web] api_tokens_file``), compared
  in constant time. Each token has a scope: ``read`` (every GET) or ``write`` (also POST migrate).
- ``vmware-api-session-id: SESSION`` -- the vCenter session of the vSphere Client user, as the client hands
  it to a remote plugin (``htmlClientSdk.app.getSessionInfo()`` -> ``sessionToken``). It is exchanged for a
  vCenter session of that user (a clone ticket, then ``CloneSession``: :mod:`.session`), cached for a short
  while (``[web] session_cache_seconds``, default 60; an unknown token 10 s) and logged out after. Exchanges
  not answered from the cache are rate-limited per client address and overall (:mod:`.ratelimit`: 429). A
  session may migrate a VM when vCenter says to that user that it holds ``Resource.HotMigrate`` on that VM
  (the privilege vMotion needs).

The middleware (:mod:`.middleware`) authenticates from the headers before any body is read.

Cookies are never read, so no browser sends credentials on its own: a cross-site form or image cannot act
(CSRF), and we do not enable CORS. Unauthenticated -> 401 JSON; authenticated without the right -> 403 JSON.

Tokens file: one token per line, ``NAME SCOPE TOKEN`` (scope ``read`` or ``write``), ``#`` comments, tokens
of at least 16 characters; keep it readable by the service user only. Generate one with
``python3 -c 'import secrets; print(secrets.token_urlsafe(32))'``.
"""

from __future__ import annotations

import hmac
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol

from vsguesttruth.errors import ConfigError

from .ratelimit import ValidationLimiter

SCOPES = ("read", "write")
MIN_TOKEN_LENGTH = 16
MIGRATE_PRIVILEGE = "Resource.HotMigrate"
SESSION_HEADER = "vmware-api-session-id"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's name, or a vCenter user."""

    name: str
    kind: str  # "token" or "session"
    scope: str = "read"  # tokens: "read" / "write"; sessions: "read" (write is checked per VM with vCenter)
    session_id: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "scope": self.scope}


class SessionChecker(Protocol):
    """Validates vSphere Client sessions (implemented by :class:`.session.ClientSessions`)."""

    def user(self, session_id: str) -> str | None: ...

    def known(self, session_id: str) -> bool:
        """Optional: whether ``user`` answers from a cache (such checks are not rate-limited)."""
        ...

    def has_privilege(self, session_id: str, vm_moref: str, privilege: str) -> bool: ...


class TokenStore:
    """API tokens and their scopes."""

    def __init__(self, tokens: Mapping[str, tuple[str, str]] | None = None) -> None:
        #: token -> (name, scope)
        self._tokens = dict(tokens or {})
        for token, (name, scope) in self._tokens.items():
            if scope not in SCOPES:
                raise ConfigError(f"API token {name!r}: scope must be read or write, not {scope!r}")
            if len(token) < MIN_TOKEN_LENGTH:
                raise ConfigError(f"API token {name!r} is shorter than {MIN_TOKEN_LENGTH} characters")

    def __len__(self) -> int:
        return len(self._tokens)

    def with_tokens(self, extra: Mapping[str, tuple[str, str]]) -> "TokenStore":
        """A new store with ``extra`` tokens (token -> (name, scope)) added."""
        return TokenStore({**self._tokens, **extra})

    @classmethod
    def from_file(cls, path: str | Path) -> "TokenStore":
        path = Path(path)
        try:
            text = path.read_text()
            mode = path.stat().st_mode
        except OSError as err:
            raise ConfigError(f"cannot read API tokens file {path}: {err.strerror}") from None
        if mode & (stat.S_IRWXO) and os.name == "posix":
            raise ConfigError(f"API tokens file {path} is readable by others: chmod 600 {path}")
        tokens: dict[str, tuple[str, str]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                raise ConfigError(f"API tokens file {path}, line {number}: expected NAME SCOPE TOKEN")
            name, scope, token = parts
            if scope not in SCOPES:
                raise ConfigError(f"API tokens file {path}, line {number}: scope must be read or write, not {scope!r}")
            if len(token) < MIN_TOKEN_LENGTH:
                raise ConfigError(f"API tokens file {path}, line {number}: token shorter than {MIN_TOKEN_LENGTH} characters")
            tokens[token] = (name, scope)
        return cls(tokens)

    def check(self, token: str) -> Principal | None:
        """The token's principal, or None. Compares against every token (no early exit)."""
        found = None
        given = token.encode()
        for known, (name, scope) in self._tokens.items():
            if hmac.compare_digest(given, known.encode()):
                found = Principal(name=name, kind="token", scope=scope)
        return found


class Auth:
    """The app's authentication and authorisation rules (see the module docstring)."""

    def __init__(self, tokens: TokenStore | None = None, sessions: SessionChecker | None = None,
                 limiter: ValidationLimiter | None = None) -> None:
        self.tokens = tokens or TokenStore()
        self.sessions = sessions
        self.limiter = limiter or ValidationLimiter()

    def authenticate(self, headers: Mapping[str, str], client: str = "") -> Principal | None:
        """The principal the headers prove, or None. Raises :class:`~.ratelimit.RateLimited` when a session
        would have to be checked with vCenter and ``client`` (or everyone) asked too often."""
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return self.tokens.check(value.strip())
            return None
        session_id = headers.get(SESSION_HEADER, "").strip()
        if session_id and self.sessions is not None and len(session_id) <= 512:
            known = getattr(self.sessions, "known", None)
            if known is None or not known(session_id):
                self.limiter.take(client)
            user = self.sessions.user(session_id)
            if user:
                return Principal(name=user, kind="session", scope="read", session_id=session_id)
        return None

    def close(self) -> None:
        """Log out what the session checker keeps (the users' vCenter sessions)."""
        close = getattr(self.sessions, "close", None)
        if close is not None:
            close()

    def may_migrate(self, who: Principal, vm_moref: str) -> bool:
        if who.kind == "token":
            return who.scope == "write"
        if who.kind == "session" and self.sessions is not None:
            return self.sessions.has_privilege(who.session_id, vm_moref, MIGRATE_PRIVILEGE)
        return False
