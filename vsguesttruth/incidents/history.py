"""When a failure started, from the hosts' own storage events (``esx.problem.storage.*``, vCenter's event
history): the watch sees a failure when the service does, the host said when it happened. The same events
give the same start after a restart, hence the same incident id.

A failure's start is the earliest, over its evidence, of the latest problem event that names it:
- a path not working: the redundancy or connectivity event naming that path on its host and device
  (``esx.problem.storage.redundancy.degraded``/``.lost``, ``connectivity.lost``: argument 2 is "the last
  path that went down"; a path that died with others may go unnamed, the others give the time);
- no path to a LUN: ``connectivity.lost`` or ``apd.start`` for the device on that host;
- a LUN lost: ``esx.problem.scsi.device.state.permanentloss``;
- a host not connected: ``HostConnectionLostEvent`` (not responding), ``HostDisconnectedEvent``.
Problem events older than the clear event that closed them (``esx.clear.storage.redundancy.restored``:
every path up again; ``connectivity.restored``; ``apd.exit``; ``permanentloss.deviceonline``;
``HostConnectedEvent``) belong to an earlier episode and are not read. No event: no start from history
(the watch's time stands). Pure.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable, Mapping, Protocol

from .failure import Failure

REDUNDANCY = ("esx.problem.storage.redundancy.degraded", "esx.problem.storage.redundancy.lost",
              "esx.problem.storage.connectivity.lost")
APD_START = "esx.problem.storage.apd.start"
PDL = "esx.problem.scsi.device.state.permanentloss"
HOST_DOWN = ("HostConnectionLostEvent", "HostDisconnectedEvent")
#: clear event -> the problem events it closes (same host and device; hosts: the host)
CLEARS = {
    "esx.clear.storage.redundancy.restored": REDUNDANCY,
    "esx.clear.storage.connectivity.restored": ("esx.problem.storage.connectivity.lost",),
    "esx.clear.storage.apd.exit": (APD_START,),
    "esx.clear.scsi.device.state.permanentloss.deviceonline": (PDL,),
    "HostConnectedEvent": HOST_DOWN,
}
#: every event type the history reads (the vCenter edge asks for exactly these)
TYPES = tuple(dict.fromkeys((*REDUNDANCY, APD_START, PDL, *HOST_DOWN, *CLEARS)))


class StorageEvent(Protocol):
    """What the history needs of one event (the vCenter edge reads them)."""

    key: int
    time: datetime
    type: str  # eventTypeId of an EventEx, else the event's type name
    host: str  # host moref
    device: str  # argument 1 of an esx.* event ("" for host events)
    path: str  # argument 2 of a redundancy/connectivity problem event, else ""


class History:
    """The open problem events per (host, device), from the events read so far (oldest first, any batches)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], list[StorageEvent]] = defaultdict(list)
        self._seen: set[int] = set()  # keys of recent events (reads overlap a little)
        self._newest = 0

    def add(self, events: Iterable[StorageEvent]) -> None:
        for e in sorted(events, key=lambda e: (e.time, e.key)):
            if e.key in self._seen:
                continue
            self._seen.add(e.key)
            self._newest = max(self._newest, e.key)
            where = (e.host, e.device)
            closes = CLEARS.get(e.type)
            if closes is not None:
                kept = [x for x in self._open.get(where, ()) if x.type not in closes]
                if kept:
                    self._open[where] = kept
                else:
                    self._open.pop(where, None)
            elif e.type in TYPES:  # the latest of each kind and path is what a start reads
                self._open[where] = [x for x in self._open[where] if (x.type, x.path) != (e.type, e.path)] + [e]
        if len(self._seen) > 20000:
            self._seen = {k for k in self._seen if k > self._newest - 10000}

    def start(self, failure: Failure) -> datetime | None:
        """When ``failure`` started per the hosts' events; None when no open problem event names it."""
        found: list[datetime] = []
        for s in failure.symptoms:
            if s.kind == "host":
                times = [e.time for e in self._open.get((s.host, ""), ()) if e.type in HOST_DOWN]
            elif s.kind == "path":
                times = [e.time for e in self._open.get((s.host, s.lun), ()) if e.type in REDUNDANCY and e.path == s.what]
            elif s.kind == "no_path":
                times = [e.time for e in self._open.get((s.host, s.lun), ())
                         if e.type in (APD_START, "esx.problem.storage.connectivity.lost")]
            elif s.kind == "lost":
                times = [e.time for e in self._open.get((s.host, s.lun), ()) if e.type == PDL]
            else:
                times = []
            if times:
                found.append(max(times))
        return min(found) if found else None

    def starts(self, failures: Iterable[Failure]) -> Mapping[str, datetime]:
        """Failure key -> its start, for the failures the events date."""
        out = {}
        for f in failures:
            at = self.start(f)
            if at is not None:
                out[f.key] = at
        return out

    def __len__(self) -> int:
        return sum(len(v) for v in self._open.values())
