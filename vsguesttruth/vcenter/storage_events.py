"""The hosts' storage events from vCenter's event history: when a path, a device or a host went down or came back,
in the host's own words (EventEx ``esx.problem.storage.*``, ``esx.clear.storage.*``, PDL, and the host
connection events). The incidents date a failure's start from them.

:class:`StorageEventReader` reads incrementally: the first call reads ``lookback`` back, each later call only
what is newer than the newest event it has seen (with a second of overlap: events created in the same second
may come in two reads; the reader of the events drops repeated keys). Every page of an
EventHistoryCollector filtered by type and time is read, oldest first, as :mod:`.events` reads ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from pyVmomi import vim

from .connect import Connection
from .events import read_all


@dataclass(frozen=True, slots=True)
class StorageEvent:
    key: int
    time: datetime
    type: str  # eventTypeId of an EventEx, else the event's type name ("HostConnectionLostEvent")
    host: str  # host moref ("" when the event names none)
    device: str  # argument "1" of an esx.* event: the device's canonical name
    path: str  # argument "2" of a redundancy/connectivity problem event: the path that went down


class StorageEventReader:
    """Reads the storage events of ``types`` (EventEx ids and event type names) since the last read."""

    def __init__(self, conn: Connection, types: Iterable[str], lookback: timedelta = timedelta(hours=24)) -> None:
        self.conn = conn
        self.types = list(types)
        self.lookback = lookback
        self._since: datetime | None = None

    def __call__(self) -> list[StorageEvent]:
        conn = self.conn
        if self._since is None:
            now = conn.run(conn.si.CurrentTime, "read vCenter's time")
            self._since = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)) - self.lookback
        since = self._since

        def call() -> list[Any]:
            spec = vim.event.EventFilterSpec(eventTypeId=self.types, time=vim.event.EventFilterSpec.ByTime(beginTime=since))
            return read_all(conn, spec)

        out = [_event(e) for e in conn.run(call, "read the hosts' storage events")]
        if out:
            newest = max(e.time for e in out)
            self._since = max(since, newest - timedelta(seconds=1))
        return out


def _event(e: Any) -> StorageEvent:
    created = e.createdTime if e.createdTime.tzinfo else e.createdTime.replace(tzinfo=timezone.utc)
    kind = getattr(e, "eventTypeId", None) or type(e).__name__.rsplit(".", 1)[-1]
    args = {a.key: str(a.value) for a in (getattr(e, "arguments", None) or ())}
    host = e.host.host._moId if getattr(e, "host", None) is not None and e.host.host is not None else ""
    path = args.get("2", "") if kind.startswith("esx.problem.storage.") and "apd" not in kind else ""
    return StorageEvent(int(e.key), created, kind, host, args.get("1", ""), path)
