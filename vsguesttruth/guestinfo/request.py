"""A guest's requests (``guestinfo.vsguesttruth.request``) and the service's answers (``.response``).

The request key holds one request at a time: ``{"id", "action": "refresh" | "migrate", "reason"}``. It is
untrusted input, parsed strictly and never trusted for anything but its own VM. Every request gets exactly one
answer, and an id answered once is never acted on again. The response key carries the id answered (a policy
answer carries it on as ``last_request``), but it is one slot, volatile on a running VM: the record that
lasts is the service's vCenter events on the VM, which the service reads back when it starts and hands to
:meth:`RequestBook.remember` (see ``vcenter.events``). A :class:`RequestBook` keeps in memory the ids answered,
the last raw value seen, and a token bucket per VM for the rate limit (a restart resets the buckets). A
request over the limit is refused with the seconds to wait; a guest writing requests fast is answered one
refusal per ``REFUSAL_GAP`` seconds (its latest request then), so it cannot make us write without bound.

Pure apart from the clock the caller passes in.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from vsguesttruth_guest.guestinfo import REQUEST_LIMIT, SCHEMA_VERSION, DocumentError, dumps, parse_guest_json, timestamp

ACTIONS = ("refresh", "migrate")
KEYS = ("id", "action", "reason")
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_REASON = 256
RESPONSE_LIMIT = 4096  # how much of the response key we read back (we write far less)
_REMEMBERED_IDS = 32  # per VM, answered ids kept in memory
REFUSAL_GAP = 10.0  # seconds: at most one rate-limit refusal per VM in this time; later requests wait for it


class RequestError(ValueError):
    """A request that cannot be accepted; ``id`` is its id when that much was readable, else ""."""

    def __init__(self, message: str, id: str = "", action: str = "") -> None:
        super().__init__(message)
        self.id = id
        self.action = action


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    action: str
    reason: str = ""


def parse_request(value: str | bytes) -> Request:
    """Strictly parse a request value; raise :class:`RequestError` saying what is wrong."""
    try:
        doc = parse_guest_json(value, REQUEST_LIMIT, "request")
    except DocumentError as err:
        raise RequestError(str(err)) from None
    raw_id = doc.get("id")
    rid = raw_id if isinstance(raw_id, str) and ID_PATTERN.fullmatch(raw_id) else ""
    raw_action = doc.get("action")
    action = raw_action if isinstance(raw_action, str) and raw_action in ACTIONS else ""
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        raise RequestError(f"unknown request key {_quote(unknown[0])} (known: {', '.join(KEYS)})", rid, action)
    if "id" not in doc:
        raise RequestError("request has no id", "", action)
    if not rid:
        raise RequestError("id must be 1 to 64 characters of A-Z a-z 0-9 . _ : -", "", action)
    if "action" not in doc:
        raise RequestError("request has no action", rid)
    if not action:
        raise RequestError(f"action must be one of {', '.join(ACTIONS)}", rid)
    reason = doc.get("reason", "")
    if not isinstance(reason, str):
        raise RequestError("reason must be a string", rid, action)
    if len(reason) > MAX_REASON:
        raise RequestError(f"reason is longer than {MAX_REASON} characters", rid, action)
    return Request(id=rid, action=action, reason=reason)


# ---------------------------------------------------------------------------------------------------
# Answers


def response(id: str, status: str, message: str, at: datetime, action: str = "", last_request: str = "") -> str:
    """A response value (schema/response.schema.json), compact JSON."""
    doc: dict[str, Any] = {"schema": SCHEMA_VERSION, "id": id, "status": status, "message": message,
                           "at": timestamp(at)}
    if action:
        doc["action"] = action
    if last_request:
        doc["last_request"] = last_request
    return dumps(doc)


def read_response(value: str | None) -> dict[str, Any]:
    """What the response key says now; {} when empty or unreadable (a guest can write it too)."""
    if not value:
        return {}
    try:
        doc = parse_guest_json(value, RESPONSE_LIMIT, "response")
    except Exception:  # noqa: BLE001 - a guest can write this key: whatever is there, it is not an answer of ours
        return {}
    return {k: v for k, v in doc.items() if k in ("id", "status", "action", "last_request") and isinstance(v, str)}


def answered_request(resp: Mapping[str, Any]) -> str:
    """The id of the latest request the response key records as answered ("" if none)."""
    if resp.get("id") == "policy":
        return str(resp.get("last_request", ""))
    return str(resp.get("id", ""))


# ---------------------------------------------------------------------------------------------------
# Triage: what to do with the request key's value now


@dataclass(frozen=True, slots=True)
class Decision:
    """``kind``: ``none`` (nothing new), ``refuse`` (answer ``message``), ``accept`` (act on ``request``),
    ``resume`` (a refresh accepted before a restart: finish it), or ``wait`` (over the rate limit, refused
    lately: look again at monotonic time ``at``, and answer then)."""

    kind: str
    request: Request | None = None
    id: str = ""
    action: str = ""
    message: str = ""
    at: float = 0.0


NOTHING = Decision("none")


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class _VmBook:
    last_raw: str | None = None
    answered: deque[str] = field(default_factory=lambda: deque(maxlen=_REMEMBERED_IDS))
    recorded: deque[str] = field(default_factory=lambda: deque(maxlen=_REMEMBERED_IDS))  # in vCenter's events
    bucket: _Bucket | None = None
    limited_at: float | None = None  # when the last rate-limit refusal was answered


class RequestBook:
    """Per-VM memory for requests: answered ids, the last value seen, and the rate limit (token bucket:
    ``per_hour`` tokens, refilled evenly over the hour, the bucket starting full)."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._vms: dict[str, _VmBook] = {}

    def forget(self, vm: str) -> None:
        self._vms.pop(vm, None)

    def remember(self, vm: str, ids: Iterable[str]) -> None:
        """Ids of ``vm`` answered before this start (read back from the service's events, oldest first):
        answered, and recorded already."""
        book = self._vms.setdefault(vm, _VmBook())
        for id in ids:
            if id not in book.answered:
                book.answered.append(id)
            if id not in book.recorded:
                book.recorded.append(id)

    def record(self, vm: str, id: str) -> bool:
        """Whether the answer to ``id`` still has to be recorded (the first answer written to it); then it is."""
        book = self._vms.setdefault(vm, _VmBook())
        if not id or id in book.recorded:
            return False
        book.recorded.append(id)
        return True

    def unanswer(self, vm: str, id: str) -> None:
        """The answer to ``id`` could not be written: look at the request again next time."""
        book = self._vms.get(vm)
        if book is not None:
            book.last_raw = None
            if id in book.answered:
                book.answered.remove(id)

    def triage(self, vm: str, value: str | None, current_response: str | None, now: float) -> Decision:
        """Decide about the request key's ``value`` of VM ``vm``; ``now`` is a monotonic clock."""
        if not value:
            return NOTHING
        book = self._vms.get(vm)
        if book is not None and value == book.last_raw:
            return NOTHING
        if book is None:
            book = self._vms[vm] = _VmBook()
        fresh = book.last_raw is None  # first look at this VM since the start: trust the response key
        decision = self._decide(book, value, read_response(current_response), fresh, now)
        if decision.kind != "wait":
            book.last_raw = value
        return decision

    def _decide(self, book: _VmBook, value: str, resp: Mapping[str, Any], fresh: bool, now: float) -> Decision:
        try:
            request = _parse(value)
        except RequestError as err:
            if fresh and resp.get("status") == "refused" and answered_request(resp) == err.id:
                return NOTHING  # answered before a restart
            if err.id and err.id in book.answered:
                return NOTHING
            return self._limited(book, now, err.id, err.action) or self._remember(book, Decision(
                "refuse", id=err.id, action=err.action, message=str(err)))
        if fresh and answered_request(resp) == request.id:  # later, only our own record counts: a guest can write the key
            if request.id not in book.answered:
                book.answered.append(request.id)
            if resp.get("id") == request.id and resp.get("status") == "accepted" and request.action == "refresh":
                return Decision("resume", request=request, id=request.id, action=request.action)
            return NOTHING
        if request.id in book.answered:
            return NOTHING
        return self._limited(book, now, request.id, request.action) or self._remember(book, Decision(
            "accept", request=request, id=request.id, action=request.action))

    def _remember(self, book: _VmBook, decision: Decision) -> Decision:
        if decision.id:
            book.answered.append(decision.id)
        return decision

    def _limited(self, book: _VmBook, now: float, id: str, action: str) -> Decision | None:
        """None when a token was available (and taken); else a refusal saying when to try again, or ``wait``
        when the last refusal is less than ``REFUSAL_GAP`` seconds old."""
        if self.per_hour > 0:
            bucket = book.bucket or _Bucket(tokens=float(self.per_hour), at=now)
            bucket.tokens = min(float(self.per_hour), bucket.tokens + (now - bucket.at) * self.per_hour / 3600.0)
            bucket.at = now
            book.bucket = bucket
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                book.limited_at = None
                return None
            wait = int((1.0 - bucket.tokens) * 3600 / self.per_hour) + 1
            message = f"rate limit: at most {self.per_hour} requests per hour; try again in {wait} s"
        else:
            message = "the administrator does not accept requests from guests here"
        if book.limited_at is not None and now - book.limited_at < REFUSAL_GAP:
            return Decision("wait", id=id, action=action, at=book.limited_at + REFUSAL_GAP)
        book.limited_at = now
        return self._remember(book, Decision("refuse", id=id, action=action, message=message))


def _parse(value: str) -> Request:
    """:func:`parse_request`, where any failure is a :class:`RequestError`: the guest gets an answer even if
    the parser has a bug."""
    try:
        return parse_request(value)
    except RequestError:
        raise
    except Exception as err:  # noqa: BLE001
        raise RequestError(f"request could not be read ({type(err).__name__})") from None


def _quote(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")
