"""The plugin server's gate (pure ASGI): authenticate from the headers, then cap the body, before the app.

FastAPI reads and parses a request's body before its dependencies run, so authentication in a dependency
comes too late: anyone who reaches the port could make the server hold a 300 MB body. This middleware runs
first, on the headers alone:

1. a ``Content-Length`` above the route's cap: 413 at once, nothing read;
2. a protected route (``/api/v1/...``; ``/metrics`` unless anonymous): the credentials are checked (tokens,
   or a vSphere session asked of vCenter, rate-limited: 429) and the principal handed to the app in
   ``scope["state"]["principal"]``; none: 401, nothing read;
3. a body sent without a length (chunked) is counted as the app reads it and cut off past the cap: 413, the
   rest is never read.

Early refusals carry ``Connection: close`` when a body was announced, so the server drops the connection
instead of reading the rest of it. Errors have the API's shape: ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Auth
from .ratelimit import RateLimited

DEFAULT_BODY_LIMIT = 1024  # bytes: no route but the ones below takes a body
BODY_LIMITS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("POST", re.compile(r"/api/v1/vms/[^/]+/migrate"), 4096),  # {"to_host": ..., "dry_run": ...}
)
UNAUTHENTICATED = ("authentication required: send `Authorization: Bearer TOKEN` or the vSphere Client's "
                   "vmware-api-session-id")


def body_limit(method: str, path: str) -> int:
    """The most bytes of body a request to ``method path`` may carry."""
    for wanted, pattern, limit in BODY_LIMITS:
        if method == wanted and pattern.fullmatch(path):
            return limit
    return DEFAULT_BODY_LIMIT


class Gate:
    """``Gate(app, auth, protected)``: ``protected(path)`` says which paths need credentials."""

    def __init__(self, app: ASGIApp, auth: Auth, protected: Callable[[str], bool]) -> None:
        self.app = app
        self.auth = auth
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path, method = scope["path"], scope["method"]
        limit = body_limit(method, path)
        length = headers.get("content-length")
        has_body = bool(length and length != "0") or "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and not length.isdigit():
            await _refuse(send, 400, "Content-Length is not a number", close=True)
            return
        if length is not None and int(length) > limit:
            await _refuse(send, 413, f"request body of {length} bytes; {method} {path} takes at most {limit}",
                          close=True)
            return
        if self.protected(path):
            client = scope["client"][0] if scope.get("client") else ""
            try:
                principal = await run_in_threadpool(self.auth.authenticate, headers, client)
            except RateLimited as err:
                await _refuse(send, 429, str(err), close=has_body, retry_after=err.retry_after)
                return
            if principal is None:
                await _refuse(send, 401, UNAUTHENTICATED, close=has_body)
                return
            scope.setdefault("state", {})["principal"] = principal
        if not has_body:
            await self.app(scope, receive, send)
            return
        capped = _Capped(receive, send, limit, f"{method} {path}")
        await self.app(scope, capped.receive, capped.send)


class _Capped:
    """``receive``/``send`` for the app that count the body and, past the cap, answer 413 themselves, tell the
    app the client left, and drop what the app answers after that."""

    def __init__(self, receive: Receive, send: Send, limit: int, route: str) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.route = route
        self.seen = 0
        self.over = False
        self.started = False

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.over = True
                if not self.started:
                    await _refuse(self._send, 413, f"request body over {self.limit} bytes: {self.route} takes "
                                                   f"at most {self.limit}", close=True)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.over:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(send: Send, status: int, message: str, *, close: bool, retry_after: int | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="vsguesttruth"'))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def principal_of(scope: Any) -> Any:
    """The principal the gate authenticated for this request (None on an unprotected path)."""
    return scope.get("state", {}).get("principal")
