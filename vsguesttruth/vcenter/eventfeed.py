"""The hosts' storage events, followed beside the property watch: evidence (a permanent device loss the host
reported, an APD that timed out) and time (when a fault began).

An EventHistoryCollector filtered to the event types the truth reads (:data:`~vsguesttruth.truth.events.EVENT_TYPES`)
is a cursor over vCenter's event history: rewound, ``ReadNextEvents`` reads it oldest first, and once at its
end reads only the events posted since. The watch adds the collector's ``latestPage`` to its property filter,
so WaitForUpdatesEx wakes up when a matching event is posted; then :meth:`EventFeed.read` reads what is new.
Nothing is read twice: events are folded in key order and keys up to the last one folded are skipped. A new
session (the collector dies with the old one) starts a new collector from the time of the last event read
(a bounded catch-up: at most ``max_pages`` pages); the first start reads back ``catch_up_seconds``.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pyVmomi import vim, vmodl

from ..model import DeviceEvent
from ..truth.events import EVENT_TYPES, HostEvent, fold
from . import fastdecode
from .connect import Connection

log = logging.getLogger(__name__)

PC = vmodl.query.PropertyCollector
PAGE = 1000  # events per ReadNextEvents (vCenter's most)


def host_event(event: Any) -> HostEvent | None:
    """A pyVmomi event -> plain data; None for an event about no host."""
    host = getattr(getattr(event, "host", None), "host", None)
    if host is None:
        return None
    kind = getattr(event, "eventTypeId", None) or type(event).__name__.rsplit(".", 1)[-1]
    device = path = ""
    for argument in getattr(event, "arguments", None) or ():
        if getattr(argument, "key", None) == "1":
            device = str(getattr(argument, "value", "") or "")
        elif getattr(argument, "key", None) == "2" and kind.startswith("esx.problem.storage.") and "apd" not in kind:
            path = str(getattr(argument, "value", "") or "")
    created = event.createdTime
    created = created.astimezone(timezone.utc) if created.tzinfo else created.replace(tzinfo=timezone.utc)
    return HostEvent(key=int(event.key), time=created, type=str(kind), host=host._moId, device=device, path=path)


class EventFeed:
    """The open storage conditions of every host (:attr:`open`), kept current from vCenter's event history."""

    def __init__(self, conn: Connection, *, catch_up_seconds: float = 24 * 3600, max_pages: int = 20) -> None:
        self.conn = conn
        self.catch_up_seconds = catch_up_seconds
        self.max_pages = max_pages
        #: (host moref, device) -> its open conditions
        self.open: dict[tuple[str, str], tuple[DeviceEvent, ...]] = {}
        self.last_key = 0
        self.last_time: datetime | None = None
        #: events folded since the feed started (each once)
        self.read_count = 0
        #: called with every batch of new events, in the reading thread (the incidents' history)
        self.listeners: list[Callable[[list[HostEvent]], None]] = []
        self._collector: Any = None

    @property
    def collector(self) -> Any:
        return self._collector

    def setup(self) -> Any:
        """A new collector (after a new session), caught up from the last event read (or ``catch_up_seconds``
        ago); returns the collector, whose ``latestPage`` the watch adds to its filter."""
        self.close()
        content = self.conn.content
        if self.last_time is not None:
            begin = self.last_time - timedelta(seconds=1)  # keys already read are skipped
        else:
            now = self.conn.si.CurrentTime()
            begin = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)) - timedelta(seconds=self.catch_up_seconds)
        spec = vim.event.EventFilterSpec(eventTypeId=list(EVENT_TYPES),
                                         time=vim.event.EventFilterSpec.ByTime(beginTime=begin))
        self._collector = content.eventManager.CreateCollectorForEvents(spec)
        self._collector.RewindCollector()
        self.read(limit=self.max_pages)
        return self._collector

    def filter_spec(self) -> Any:
        """What the watch adds to its property collector: this collector's ``latestPage``."""
        return PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=self._collector, skip=False)],
                             propSet=[PC.PropertySpec(type=vim.event.EventHistoryCollector, pathSet=["latestPage"],
                                                      all=False)])

    def read(self, limit: int | None = None) -> bool:
        """Read what is new (at most ``limit`` pages; then jump to the newest page); True if a condition changed."""
        collector = self._collector
        if collector is None:
            return False
        new: list[HostEvent] = []
        pages = 0
        while True:
            page = fastdecode.invoke(None, collector, "ReadNextEvents", PAGE)
            if not page:
                break
            pages += 1
            for raw in page:
                event = host_event(raw)
                if event is not None and event.key > self.last_key:
                    new.append(event)
            if limit is not None and pages >= limit:
                log.warning("more than %d pages of storage events to catch up on: reading on from the newest",
                            limit)
                collector.ResetCollector()
                limit = None
        if not new:
            return False
        before = self.open
        self.open = fold(self.open, new)
        newest = max(new, key=lambda e: e.key)
        self.last_key, self.last_time = newest.key, newest.time
        self.read_count += len(new)
        for listener in self.listeners:
            listener(new)
        return self.open != before

    def close(self) -> None:
        collector, self._collector = self._collector, None
        if collector is not None:
            with contextlib.suppress(Exception):  # it also ends with its session
                collector.DestroyCollector()


def recent(conn: Connection, seconds: float = 24 * 3600, max_pages: int = 20) -> dict[tuple[str, str], tuple[DeviceEvent, ...]]:
    """The open storage conditions from the last ``seconds`` of events: what a one-off read (``status``) knows."""
    feed = EventFeed(conn, catch_up_seconds=seconds, max_pages=max_pages)
    try:
        conn.run(feed.setup, "read the hosts' storage events")
        return feed.open
    finally:
        feed.close()
