"""vCenter events: what vsguesttruth did, recorded on the VM where admins look (the VM's Monitor > Events).

We post with ``EventManager.LogUserEvent`` (a ``GeneralUserEvent`` on the entity, message prefixed
``vsguesttruth: ``): it needs no registered event type and shows on any vCenter. (A custom ``EventEx``
``com.vsguesttruth.*`` would need the extension to declare its event types to render well; LogUserEvent is
what the lab implements like vCenter too.) Read back through an EventHistoryCollector filtered by type, entity
and time, every page of it: vCenter keeps far more history than one ``QueryEvents`` answer holds.

The events are the state of record for remediation: :func:`recent_moves` reads the moves we made, so a
restarted service (or a cron ``remediate --once``) keeps cooldowns and the hourly budget. They are the
record of the guests' requests answered too (:class:`AnswerRecord` posts one per request id,
:func:`answered_requests` reads them back on start): the response key is one slot, emptied by a power
cycle, and an id answered once must never be acted on again. That read pages through the event history
with an EventHistoryCollector and sorts by event key: what order vCenter pages in does not matter.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pyVmomi import vim

from vsguesttruth.ratelog import RateLog

from .connect import Connection
from .errors import VsgtError

log = logging.getLogger(__name__)

PREFIX = "vsguesttruth: "
_MOVED = re.compile(r"^vsguesttruth: moved (\S+) ")
_ANSWERED = re.compile(r"^vsguesttruth: answered request ([A-Za-z0-9._:-]{1,64}) ")
ANSWER_MEMORY = 7 * 86400  # seconds of history read back for answered request ids
PER_VM = 32  # answered ids kept per VM (the newest)
PAGE = 1000  # events per page of the history collector (vCenter's maximum)
MAX_PAGES = 200  # at most this many pages are read on start


@dataclass(frozen=True, slots=True)
class Event:
    key: int
    time: datetime
    type: str  # "GeneralUserEvent", "VmMigratedEvent", ...
    vm: str  # moref of the VM the event is about ("" if none)
    vm_name: str
    message: str  # our message (prefix included), or vCenter's fullFormattedMessage
    user: str

    @property
    def ours(self) -> bool:
        return self.message.startswith(PREFIX)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "time": self.time.isoformat(), "type": self.type, "vm": self.vm,
                "vm_name": self.vm_name, "message": self.message, "user": self.user}


def post(conn: Connection, vm_moref: str, message: str, kind: type = vim.VirtualMachine) -> None:
    """Log ``message`` (prefixed ``vsguesttruth: `` if it is not) as a user event on the entity."""
    text = message if message.startswith(PREFIX) else PREFIX + message
    text = " ".join(text.split())[:1024]  # one line; vCenter truncates long event messages anyway

    def call() -> None:
        conn.content.eventManager.LogUserEvent(entity=kind(vm_moref, conn.si._stub), msg=text)

    conn.run(call, f"post an event on {vm_moref}")


def read_all(conn: Connection, spec: Any, max_pages: int = MAX_PAGES) -> list[Any]:
    """Every event the filter matches, through an EventHistoryCollector: page size set to the most vCenter
    allows, rewound to the oldest, read page by page (at most ``max_pages``). A single ``QueryEvents``
    returns only the newest ``maxCount`` matches, so other tools' events could push ours out of it. Call inside
    ``conn.run``."""
    collector = conn.content.eventManager.CreateCollectorForEvents(spec)
    try:
        collector.SetCollectorPageSize(PAGE)
        collector.RewindCollector()
        found: list[Any] = []
        for _ in range(max_pages):
            page = collector.ReadNextEvents(PAGE)
            if not page:
                break
            found.extend(page)
        return found
    finally:
        try:
            collector.DestroyCollector()
        except Exception:  # noqa: BLE001 - best effort: a collector also ends with its session
            pass


def query(conn: Connection, vm_moref: str = "", *, since: datetime | None = None, ours: bool = True,
          max_count: int = 1000, max_pages: int = MAX_PAGES) -> list[Event]:
    """Events on one VM (or all, ``vm_moref`` ""), oldest first (by key: vCenter promises no order within a
    page); ``ours``: only vsguesttruth's; the newest ``max_count`` of them (0: all)."""
    def call() -> list[Any]:
        spec = vim.event.EventFilterSpec()
        if vm_moref:
            spec.entity = vim.event.EventFilterSpec.ByEntity(
                entity=vim.VirtualMachine(vm_moref, conn.si._stub), recursion="self")
        if since is not None:
            spec.time = vim.event.EventFilterSpec.ByTime(beginTime=since)
        if ours:
            spec.eventTypeId = ["GeneralUserEvent"]
        return read_all(conn, spec, max_pages)

    out = {e.key: e for e in _convert(conn.run(call, "read events"), ours)}
    found = [e for _, e in sorted(out.items()) if since is None or e.time >= since]
    return found[-max_count:] if max_count > 0 else found


def _convert(raw: Any, ours: bool) -> list[Event]:
    out = []
    for e in raw:
        message = getattr(e, "message", None) or e.fullFormattedMessage or ""
        if ours and not message.startswith(PREFIX):
            continue
        vm = e.vm.vm._moId if e.vm is not None and e.vm.vm is not None else ""
        entity = getattr(e, "entity", None)
        if not vm and entity is not None and isinstance(entity.entity, vim.VirtualMachine):
            vm = entity.entity._moId
        created = e.createdTime if e.createdTime.tzinfo else e.createdTime.replace(tzinfo=timezone.utc)
        out.append(Event(key=int(e.key), time=created, type=type(e).__name__.rsplit(".", 1)[-1], vm=vm,
                         vm_name=e.vm.name if e.vm is not None else "", message=message, user=e.userName or ""))
    return out


def history(conn: Connection, since: datetime, *, max_pages: int = MAX_PAGES) -> list[Event]:
    """vsguesttruth's events since ``since``, every one, by key (the order vCenter keeps them in)."""
    return query(conn, since=since, max_count=0, max_pages=max_pages)


def recent_moves(conn: Connection, within_seconds: float) -> list[tuple[str, float]]:
    """(vm moref, seconds ago) of every move vsguesttruth recorded in the last ``within_seconds``."""
    now = conn.si.CurrentTime()
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    found = []
    for event in query(conn, since=now - timedelta(seconds=within_seconds), max_count=0):
        if event.vm and _MOVED.match(event.message):
            found.append((event.vm, max(0.0, (now - event.time).total_seconds())))
    return found


# ---------------------------------------------------------------------------------------------------
# Answered requests


def answer_message(vm_name: str, id: str, action: str, status: str, message: str) -> str:
    return f"{PREFIX}answered request {id} of {vm_name} ({action or 'request'}): {status}: {message}"


def answered_requests(conn: Connection, within_seconds: float = ANSWER_MEMORY,
                      per_vm: int = PER_VM) -> dict[str, list[str]]:
    """VM moref -> the ids of its requests vsguesttruth answered in the last ``within_seconds`` (the newest
    ``per_vm``, oldest first)."""
    now = conn.si.CurrentTime()
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    found: dict[str, list[str]] = defaultdict(list)
    for event in history(conn, now - timedelta(seconds=within_seconds)):
        matched = _ANSWERED.match(event.message)
        if event.vm and matched:
            found[event.vm].append(matched.group(1))
    return {vm: ids[-per_vm:] for vm, ids in found.items()}


class AnswerRecord:
    """The service's record of the requests it answered (``reconcile.AnswerLog``): one event on the VM per
    request id. ``gate()`` raises when this instance may not act (the single-instance lease)."""

    def __init__(self, conn: Connection, gate: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.gate = gate
        self._errors = RateLog(log)

    def record(self, vm: str, vm_name: str, id: str, action: str, status: str, message: str) -> None:
        try:
            if self.gate is not None:
                self.gate()
            post(self.conn, vm, answer_message(vm_name, id, action, status, message))
        except VsgtError as err:
            self._errors.log(logging.WARNING, vm, "could not record the answer to request %s of %s: %s",
                             id, vm_name, err)
