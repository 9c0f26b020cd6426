"""vCenter events: what vsguesttruth did, recorded on the VM where admins look (the VM's Monitor > Events).

We post with ``EventManager.LogUserEvent`` (a ``GeneralUserEvent`` on the entity, message prefixed
``vsguesttruth: ``): it needs no registered event type and shows on any vCenter. (A custom ``EventEx``
``com.vsguesttruth.*`` would need the extension to declare its event types to render well; LogUserEvent is
what the lab implements like vCenter too.) Read back through an EventHistoryCollector filtered by type, entity
and time, every page of it: vCenter keeps far more history than one ``QueryEvents`` answer holds.

The events are the state of record for remediation: :func:`recent_moves` reads the moves we made, so a
restarted service (or a cron ``remediate --once``) keeps cooldowns and the hourly budget.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pyVmomi import vim

from .connect import Connection

PREFIX = "vsguesttruth: "
_MOVED = re.compile(r"^vsguesttruth: moved (\S+) ")
_PAGE = 1000  # events per ReadNextEvents call


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


def read_all(conn: Connection, spec: Any) -> list[Any]:
    """Every event ``spec`` matches, oldest first: each page of an EventHistoryCollector (``ReadNextEvents`` from
    the rewound start), where one ``QueryEvents`` would give only the newest ``maxCount``. Call inside
    ``conn.run``."""
    collector = conn.content.eventManager.CreateCollectorForEvents(spec)
    try:
        collector.RewindCollector()
        found: list[Any] = []
        while page := collector.ReadNextEvents(_PAGE):
            found.extend(page)
        return found
    finally:
        with contextlib.suppress(Exception):  # a collector also ends with its session
            collector.DestroyCollector()


def query(conn: Connection, vm_moref: str = "", *, since: datetime | None = None, ours: bool = True,
          max_count: int = 1000) -> list[Event]:
    """Events on one VM (or all, ``vm_moref`` ""), oldest first; ``ours``: only vsguesttruth's; the newest
    ``max_count`` of them.

    Read page by page through an EventHistoryCollector (from the oldest, ``ReadNextEvents``): a single
    ``QueryEvents`` returns only the newest ``maxCount`` events that match the filter, so other tools'
    user events could push ours out of it, and vCenter promises no order within a page (sorted here).
    """
    def call() -> list[Any]:
        spec = vim.event.EventFilterSpec()
        if vm_moref:
            spec.entity = vim.event.EventFilterSpec.ByEntity(
                entity=vim.VirtualMachine(vm_moref, conn.si._stub), recursion="self")
        if since is not None:
            spec.time = vim.event.EventFilterSpec.ByTime(beginTime=since)
        if ours:
            spec.eventTypeId = ["GeneralUserEvent"]
        return read_all(conn, spec)

    raw = conn.run(call, "read events")
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
    out.sort(key=lambda ev: (ev.time, ev.key))
    return out[-max_count:] if max_count > 0 else out


def recent_moves(conn: Connection, within_seconds: float) -> list[tuple[str, float]]:
    """(vm moref, seconds ago) of every move vsguesttruth recorded in the last ``within_seconds``."""
    now = conn.si.CurrentTime()
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    found = []
    for event in query(conn, since=now - timedelta(seconds=within_seconds), max_count=0):
        if event.vm and _MOVED.match(event.message):
            found.append((event.vm, max(0.0, (now - event.time).total_seconds())))
    return found
