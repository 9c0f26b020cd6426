"""The incident lifecycle: a small state machine over successive groupings and the time.

An incident is one failed component (:class:`~.failure.Failure`, by its key) from the grouping where it
appears to the first grouping without it: ``open`` -> ``resolved``. Its ``since`` is the hosts' own time for
the failure when their events give one (:mod:`.history`), else when the watch first saw it; ``resolved_at``
is when the watch last saw it gone. The same component failing again later is a new incident.

Its id is deterministic: the kind and a digest of the component and its start (``target-5e1f0c2a9d``), so a
restarted service that reads the same events finds the same id. While open, an incident remembers every
disk it hit (a VM moved away stays listed, with the verdict it had while hit); when it resolves because a
larger failure now explains its evidence (a dead path that turns out to be a dead port), ``merged_into``
names that incident. Pure: the caller brings the groupings, the hits, the starts and the clock.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Iterable, Mapping

from .failure import Failure, Kind
from .hits import DiskId, Hit

OPEN = "open"
RESOLVED = "resolved"
_VM, _VM_NAME = attrgetter("vm"), attrgetter("vm_name")


def incident_id(failure_key: str, since: datetime) -> str:
    """``<kind>-<10 hex digits>`` of the component key and its start (to the microsecond, UTC)."""
    stamp = since.astimezone(timezone.utc).isoformat()
    digest = hashlib.blake2b(f"{failure_key}|{stamp}".encode(), digest_size=5).hexdigest()
    return f"{failure_key.split(':', 1)[0]}-{digest}"


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    state: str  # open / resolved
    since: datetime
    since_from: str  # "events" (the hosts' storage events) or "watch"
    failure: Failure  # the latest grouping of it (resolved: as last seen)
    resolved_at: datetime | None = None
    merged_into: str = ""
    hits: tuple[Hit, ...] = ()  # every disk it hit while open (latest verdict seen while hit)
    seen: datetime | None = None  # the grouping that last changed it (its failure or its hits)

    @property
    def kind(self) -> Kind:
        return self.failure.kind

    @property
    def key(self) -> str:
        return self.failure.key

    @property
    def open(self) -> bool:
        return self.state == OPEN

    def duration(self, now: datetime) -> timedelta:
        return (self.resolved_at or now) - self.since

    def vms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(map(_VM_NAME, self.hits)))

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        f = self.failure
        vms = set(map(_VM, self.hits))  # a port of a big array hits tens of thousands of disks: no Python loop
        return {
            "id": self.id, "state": self.state, "kind": f.kind.value, "component": f.name, "key": f.key,
            "cause": f.cause, "line": f.line(), "since": self.since.isoformat(), "since_from": self.since_from,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "duration_s": round(self.duration(now).total_seconds(), 1) if now is not None else None,
            "merged_into": self.merged_into, "hosts": list(f.host_names), "clusters": list(f.clusters),
            "luns": list(f.luns), "datastores": list(f.datastores), "detail": dict(f.detail),
            "paths": sum(1 for s in f.symptoms if s.kind == "path"), "evidence": len(f.symptoms),
            "vm_count": len(vms), "disk_count": len(self.hits), "host_count": len(f.hosts),
            "vms": list(self.vms()),
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """What changed in one step: an incident ``opened`` or ``resolved``."""

    change: str
    incident: Incident

    def record(self) -> str:
        """The line vCenter's event records (``[since ... until ...]`` first: a long line is cut at its end)."""
        i = self.incident
        if self.change == "opened":
            return (f"incident {i.id} opened [since {i.since.isoformat()}]: {i.failure.line()}; "
                    f"{len(i.hits)} disks of {len(i.vms())} VMs hit")
        until = i.resolved_at.isoformat() if i.resolved_at else ""
        merged = f" (now part of {i.merged_into})" if i.merged_into else ""
        return (f"incident {i.id} resolved after {_words(i.duration(i.resolved_at or i.since))} "
                f"[since {i.since.isoformat()} until {until}]: {i.failure.line()}{merged}")

    def line(self) -> str:
        i = self.incident
        if self.change == "opened":
            return f"incident {i.id} opened: {i.failure.line()}; {len(i.hits)} disks of {len(i.vms())} VMs hit"
        merged = f" (now part of {i.merged_into})" if i.merged_into else ""
        took = i.duration(i.resolved_at or i.since)
        return f"incident {i.id} resolved{merged} after {_words(took)}: {i.failure.line()}"


@dataclass
class Lifecycle:
    """The incidents of one vCenter: the open ones by failure key, and the resolved ones, newest last.

    ``keep``: at most this many resolved incidents are kept, and none older than ``retain``.
    """

    keep: int = 2000
    retain: timedelta = timedelta(hours=24)
    open: dict[str, Incident] = field(default_factory=dict)
    resolved: list[Incident] = field(default_factory=list)

    def step(self, failures: Iterable[Failure], now: datetime, *, starts: Mapping[str, datetime] | None = None,
             hits: Mapping[str, Iterable[Hit]] | None = None) -> list[Transition]:
        """Take one grouping (its failures, and the disks each hits now) seen at ``now``; ``starts``: failure
        key -> start from the hosts' events (failures not in it start ``now``, or when first seen)."""
        starts = starts or {}
        hits = hits or {}
        current = {f.key: f for f in failures}
        changes: list[Transition] = []
        for key, f in current.items():
            known = self.open.get(key)
            if known is None:
                since = min(starts.get(key, now), now)
                incident = Incident(incident_id(key, since), OPEN, since, "events" if key in starts else "watch",
                                    f, hits=tuple(sorted(hits.get(key, ()), key=_hit_order)), seen=now)
                self.open[key] = incident
                changes.append(Transition("opened", incident))
            else:
                merged = _merge(known.hits, hits.get(key, ()))
                if merged is not known.hits or known.failure != f:  # else the same object: readers keep their work
                    self.open[key] = replace(known, failure=f, hits=merged, seen=now)
        gone = [k for k in self.open if k not in current]
        if gone:
            owners = self._owners(current)
            for key in gone:
                incident = self.open.pop(key)
                done = replace(incident, state=RESOLVED, resolved_at=now, merged_into=_merged(incident, owners))
                self.resolved.append(done)
                changes.append(Transition("resolved", done))
        self._trim(now)
        return changes

    def _owners(self, staying: Mapping[str, Failure]) -> dict[Any, list[tuple[int, str]]]:
        """Each symptom of the incidents that stay open -> (their place among the open ones, their id): what a
        resolved incident may have been merged into. Indexed once per step: a port that comes back on a
        thousand hosts at once resolves thousands of path incidents, and looking at every open incident for each
        of them took 20 s."""
        owners: dict[Any, list[tuple[int, str]]] = defaultdict(list)
        for place, (key, incident) in enumerate(self.open.items()):
            if key in staying:
                for symptom in set(incident.failure.symptoms):
                    owners[symptom].append((place, incident.id))
        return owners

    def _trim(self, now: datetime) -> None:
        oldest = now - self.retain
        if len(self.resolved) > self.keep or (self.resolved and (self.resolved[0].resolved_at or now) < oldest):
            self.resolved = [i for i in self.resolved if (i.resolved_at or now) >= oldest][-self.keep:]

    def incidents(self) -> list[Incident]:
        """Every incident known: the open ones (oldest first), then the resolved ones (newest first)."""
        return sorted(self.open.values(), key=lambda i: (i.since, i.id)) + self.resolved[::-1]

    def find(self, incident_id: str) -> Incident | None:
        for i in self.open.values():
            if i.id == incident_id:
                return i
        return next((i for i in reversed(self.resolved) if i.id == incident_id), None)


def _merged(gone: Incident, owners: Mapping[Any, list[tuple[int, str]]]) -> str:
    """The open incident that now explains evidence of ``gone`` (the one sharing most of it; of equals, the first
    opened), if any: ``owners`` from :meth:`Lifecycle._owners`."""
    shared: Counter[tuple[int, str]] = Counter()
    for symptom in set(gone.failure.symptoms):
        shared.update(owners.get(symptom, ()))
    if not shared:
        return ""
    (_, incident_id), _ = min(shared.items(), key=lambda kv: (-kv[1], kv[0][0]))  # most shared, first opened
    return incident_id


def _hit_order(h: Hit) -> tuple[str, str, int]:
    """Hits in VM name order, then moref, then device key."""
    return (h.vm_name, h.vm, h.key)


def _merge(before: tuple[Hit, ...], now: Iterable[Hit]) -> tuple[Hit, ...]:
    """The hits so far, updated with the current ones (a disk keeps its place; a new one is added)."""
    by_disk: dict[DiskId, Hit] = {(h.vm, h.key): h for h in before}
    changed = False
    for h in now:
        old = by_disk.get((h.vm, h.key))
        if old is not h and old != h:  # (the controller hands the same hit again while nothing changed)
            by_disk[h.vm, h.key] = h
            changed = True
    if not changed:
        return before
    return tuple(sorted(by_disk.values(), key=_hit_order))


def _words(took: timedelta) -> str:
    seconds = int(took.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
