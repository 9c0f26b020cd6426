"""The incident controller: the lifecycle kept current with the live inventory, for the service and its readers.

``vsguesttruth serve`` (and ``web``, ``watch``) make one and let it hear every inventory the watch delivers
(:meth:`IncidentController.observe`, an informer listener, run before the reconcile pass reads the same
inventory). Each time it groups the inventory (:mod:`.grouping`), dates new failures from the hosts' storage
events (``read_events``: the vCenter edge's reader, called only when a failure is new), finds the disks each
hits (verdicts judged only for disks newly hit, so a fabric outage costs its 20,000 verdicts once, not per
inventory), and steps the lifecycle. Readers take :meth:`state` (an immutable :class:`IncidentState`, a new
one per change): the web's API and metrics, and the reconciler, which asks :meth:`ids_for` a VM's disks
(the ids its guest document names) and :meth:`take_dirty` (the VMs whose ids changed since it last asked).

No I/O of its own: ``read_events`` and ``clock`` are given.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping

from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Host, Inventory
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.context import shared_context

from .evidence import Evidence
from .failure import Failure
from .footprint import Footprints, VmPrint
from .grouping import failures as group
from .history import History, StorageEvent
from .hits import DiskFailures, DiskId, Hit
from .lifecycle import Incident, Lifecycle, Transition
from .san import SanMap, san_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentState:
    """The incidents at one moment: open ones oldest first, then resolved ones newest first."""

    version: int = 0
    inventory_version: int = 0
    updated: datetime | None = None
    incidents: tuple[Incident, ...] = ()
    by_disk: Mapping[DiskId, tuple[str, ...]] = field(default_factory=dict)  # open incident ids per disk
    by_vm: Mapping[str, Mapping[int, tuple[str, ...]]] = field(default_factory=dict)  # the same, per VM
    san: SanMap | None = None

    @property
    def open(self) -> tuple[Incident, ...]:
        return tuple(i for i in self.incidents if i.open)

    def find(self, incident_id: str) -> Incident | None:
        return next((i for i in self.incidents if i.id == incident_id), None)


class IncidentController:
    """Keeps the lifecycle of one vCenter's incidents (see the module docstring)."""

    def __init__(self, *, read_events: Callable[[], Iterable[StorageEvent]] | None = None,
                 record: Callable[[str], None] | None = None, record_after: float = 30.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 on_change: Callable[[list[Transition]], None] | None = None, keep: int = 2000) -> None:
        self.read_events = read_events
        self.record = record
        self.record_after = timedelta(seconds=record_after)
        self._unrecorded: dict[str, datetime] = {}  # open incident id -> when the watch first saw it
        self._recorded: set[str] = set()
        self._queue: list[Transition] = []
        self._record_failed = False
        self.clock = clock
        self.on_change = on_change
        self.lifecycle = Lifecycle(keep=keep)
        self.history = History()
        self._prints = Footprints()
        self._evidence = Evidence()
        self._disk_failures = DiskFailures()
        #: the SAN map, the inventory it was last checked against, and each host's HBA-to-target edges then
        self._san: tuple[Inventory, dict[str, frozenset], SanMap] | None = None
        self._lock = threading.Lock()
        self._state = IncidentState()
        self._dirty: set[str] = set()
        self._inventory_version = 0
        self._events_failed = False

    # -- readers ------------------------------------------------------------------------------------

    def state(self) -> IncidentState:
        return self._state

    def ids_for(self, vm: str) -> dict[int, tuple[str, ...]]:
        """Disk key -> the open incidents hitting that disk of ``vm`` (what its guest document names)."""
        return dict(self._state.by_vm.get(vm, {}))

    def take_dirty(self) -> set[str]:
        """The VMs whose incident ids changed since the last call."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return dirty

    def hear(self, events: Iterable[StorageEvent]) -> None:
        """Storage events as the watch reads them (its event feed): new failures are dated from them without a
        read of vCenter's event history of their own."""
        self.history.add(events)

    # -- the step -----------------------------------------------------------------------------------

    def listen(self, inv: Inventory | None) -> None:
        """:meth:`observe` as an informer listener: an error is logged, never raised into the watch."""
        try:
            self.observe(inv)
        except Exception:  # noqa: BLE001 - a bug in the incidents must not stop the watch or the publishing
            log.exception("incident pass failed")

    def observe(self, inv: Inventory | None) -> list[Transition]:
        """One inventory from the watch (None: a quiet wait, nothing to do)."""
        if inv is None:
            self._record([])
            return []
        self._inventory_version += 1
        now = self.clock()
        ctx = shared_context(inv)  # the reconcile pass of this inventory reads the same judgements
        prints = self._prints.of(inv, ctx)
        san = self._san_map(inv)
        found = group(inv, ctx, san=san, prints=prints, evidence=self._evidence)
        lifecycle = self.lifecycle
        new = [f for f in found if f.key not in lifecycle.open]
        starts = self._starts(new) if new else {}
        by_disk = self._disk_failures(found, prints, inv, self._evidence.placement.vms_on)
        hits = self._hits(found, by_disk, prints, inv, ctx)
        updated = any(lifecycle.open[f.key].failure != f for f in found if f.key in lifecycle.open)
        before = {k: i.hits for k, i in lifecycle.open.items()}
        changes = lifecycle.step(found, now, starts=starts, hits=hits)
        updated = updated or any(i.hits is not before.get(k, i.hits) for k, i in lifecycle.open.items())
        # the ids of the incidents hitting each disk: one tuple per distinct set of failures (thousands of disks
        # share a few), and the VMs whose disks' ids changed
        id_of = {k: i.id for k, i in lifecycle.open.items()}
        as_ids: dict[tuple[str, ...], tuple[str, ...]] = {}
        ids: dict[DiskId, tuple[str, ...]] = {}
        by_vm: dict[str, dict[int, tuple[str, ...]]] = {}
        old = self._state
        was = old.by_disk
        dirty: set[str] = set()
        for disk, keys in by_disk.items():
            v = as_ids.get(keys)
            if v is None:
                v = as_ids[keys] = tuple(map(id_of.__getitem__, keys))
            ids[disk] = v
            by_vm.setdefault(disk[0], {})[disk[1]] = v
            if was.get(disk) != v:
                dirty.add(disk[0])
        dirty.update(vm for vm, _ in was.keys() - ids.keys())
        changed = bool(changes) or bool(dirty) or updated
        state = IncidentState(
            version=old.version + (1 if changed else 0), inventory_version=self._inventory_version, updated=now,
            incidents=tuple(lifecycle.incidents()) if changed else old.incidents, by_disk=ids, by_vm=by_vm, san=san)
        with self._lock:
            self._state = state
            self._dirty |= dirty
        if changes:
            for t in changes:
                log.info("%s", t.line())
            if self.on_change is not None:
                self.on_change(changes)
        self._record(changes)
        return changes

    def _record(self, changes: list[Transition]) -> None:
        """Post the incidents that lasted ``record_after`` as vCenter events when they open, and when they resolve
        (a flap shorter than that stays in the service, its metrics and its pages, not in vCenter's history)."""
        if self.record is None:
            return
        now = self.clock()
        for t in changes:
            if t.change == "opened":
                self._unrecorded[t.incident.id] = now
            elif self._unrecorded.pop(t.incident.id, None) is None and t.incident.id in self._recorded:
                self._queue.append(t)
        opened = {i.id: i for i in self.lifecycle.open.values()}
        for incident_id, seen in list(self._unrecorded.items()):
            if incident_id not in opened:
                del self._unrecorded[incident_id]
            elif now - seen >= self.record_after:
                del self._unrecorded[incident_id]
                self._recorded.add(incident_id)
                self._queue.insert(0, Transition("opened", opened[incident_id]))
        while self._queue:
            t = self._queue[0]
            try:
                self.record(t.record())
            except VsgtError as err:
                if not self._record_failed:
                    log.warning("cannot record incident %s in vCenter's events (trying again later): %s", t.incident.id, err)
                self._record_failed = True
                return
            self._record_failed = False
            self._queue.pop(0)
            if t.change == "resolved":
                self._recorded.discard(t.incident.id)

    def _starts(self, new: list[Failure]) -> Mapping[str, datetime]:
        if self.read_events is not None:
            try:
                self.history.add(self.read_events())
                if self._events_failed:
                    log.info("reading the hosts' storage events again")
                self._events_failed = False
            except VsgtError as err:
                if not self._events_failed:
                    log.warning("cannot read the hosts' storage events (incidents start when the watch saw them): %s",
                                err)
                self._events_failed = True
        return self.history.starts(new)

    def _hits(self, found: tuple[Failure, ...], by_disk: Mapping[DiskId, tuple[str, ...]],
              prints: Mapping[str, VmPrint], inv: Inventory, ctx: TruthContext) -> dict[str, list[Hit]]:
        """The disks each failure hits; a verdict is judged for a disk newly hit (or whose failure changed)."""
        known: dict[tuple[str, DiskId], Hit] = {}
        for f in found:
            incident = self.lifecycle.open.get(f.key)
            if incident is not None and incident.failure.symptoms == f.symptoms:
                known.update(((f.key, (h.vm, h.key)), h) for h in incident.hits)
        judge = {vm for disk, keys in by_disk.items() for k in keys if (k, disk) not in known for vm in (disk[0],)}
        truths = {vm: ctx.vm_truth(vm) for vm in sorted(judge)}
        out: dict[str, list[Hit]] = {f.key: [] for f in found}
        for (vm, key), keys in by_disk.items():
            p = prints[vm]
            fresh = None
            for k in keys:
                hit = known.get((k, (vm, key)))
                if hit is None or hit.host != p.host:
                    if fresh is None:
                        fresh = _hit(p, key, inv, truths.get(vm) or ctx.vm_truth(vm))
                    hit = fresh
                out[k].append(hit)
        return out

    def _san_map(self, inv: Inventory) -> SanMap:
        """The SAN map, inferred again only when some host's HBA-to-target edges changed."""
        kept = self._san
        if kept is not None:
            before, edges, san = kept
            changed = inv.changed_since(before, "hosts")  # a path flap changes one host: its edges stay
            if all(m in inv.hosts and m in edges and _edges(inv.hosts[m]) == edges[m] for m in changed):
                self._san = (inv, edges, san)
                return san
        san = san_map(inv)
        self._san = (inv, {m: _edges(h) for m, h in inv.hosts.items()}, san)
        return san


def _edges(host: Host) -> frozenset:
    return frozenset((p.hba, p.target, p.target_port_name, p.target_node) for p in host.paths if p.target)


def _hit(p: VmPrint, key: int, inv: Inventory, truth) -> Hit:  # noqa: ANN001 - a VmTruth
    host = inv.hosts.get(p.host)
    label = next(d.label for d in p.disks if d.key == key)
    disk = next((d for d in truth.disks if d.key == key), None)
    return Hit(p.vm, p.name, key, label, p.host, host.name if host else p.host, host.cluster if host else "",
               disk.verdict if disk is not None else None, disk.explanation if disk is not None else "")
