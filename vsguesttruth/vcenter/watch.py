"""Watching vCenter: WaitForUpdatesEx on one PropertyFilter, an Inventory per change.

Like a client-go informer: the filter's first update is the full state (list), later ones are
changes (watch). We keep, per managed object, its current ``{path: compact value}`` (the pyVmomi
values reduced as they arrive, :func:`convert.compact`: the pyVmomi objects of 20,000 VMs' devices
would cost hundreds of MB) and its model object; a change touches only the objects it names, which
are re-assembled, and a new :class:`~vsguesttruth.model.Inventory` is produced when a model object
actually changed. A change below a path we hold (``config.multipathState.path["x"].pathState``)
can't be applied to a compact value: the object is re-read (one call for all such objects).

Memory and pauses: the initial sync runs with the cyclic GC paused, and what it built is then moved
out of the GC's sight (``gc.freeze()``): a long-lived heap of millions of objects would otherwise be
rescanned by every full collection, a pause of seconds in the middle of a change.

No polling: between changes we block in WaitForUpdatesEx. The watch has its own PropertyCollector
(CreatePropertyCollector), so it never disturbs other users of the session's default collector.

If the session is lost (NotAuthenticated; logged out, terminated, expired) or the connection
drops, the watch reconnects with backoff (:meth:`Connection.reconnect`), builds a new collector,
views and filter, and resyncs from scratch: the next Inventory is a complete fresh one.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Iterator

from pyVmomi import vim, vmodl

from ..gcpause import paused as gc_paused
from ..gcpause import release_free_memory
from ..model import Datastore, Delta, Host, Inventory, Vm
from . import fastdecode
from .connect import Connection
from .convert import (
    CLUSTER,
    DATASTORE,
    HOST,
    PROPERTIES,
    VM,
    Record,
    assemble_record,
    cluster_names,
    compact_record,
    datastore_names,
    names_hold,
    properties_for,
    reduce_value,
)
from .errors import VsgtError
from .eventfeed import EventFeed
from .faults import is_connection_lost, is_session_lost
from .properties import (
    PC,
    api_version,
    create_views,
    destroy_views,
    filter_spec,
    object_filter_spec,
    parse_path,
    record_of,
    retrieve,
)
from .task import Transient, classify

log = logging.getLogger(__name__)

#: Updates per WaitForUpdatesEx reply: vCenter then sets `truncated` and we read on. Bounds the
#: size of one reply (and our memory) for the initial full update of a large inventory. Measured at
#: 20,000 VMs: a resync's peak of decoded objects is +4.1 M Python objects with 1,000 a reply, +0.5 M with
#: 100, in the same time (25.7 s vs 29.4 s); a peak stays in the resident size (the allocator's arenas).
MAX_OBJECT_UPDATES = 100

Model = Host | Datastore | Vm


class _Resync(Exception):
    """Internal: our collector/filter is gone; start over."""


class Watcher:
    """A live inventory: ``next_inventory()`` returns the next one, built from the latest change.

    The first call returns the full inventory (the filter's initial update). Each later call waits
    for changes and returns the new inventory, or ``None`` when ``timeout`` passed without one.
    After a lost session it resyncs and returns a full fresh inventory (see :attr:`resyncs`).
    ``close()`` (from any thread) cancels a wait in progress; a closed watcher returns ``None``.
    """

    def __init__(self, conn: Connection, *, max_wait: float = 30.0, feed: EventFeed | None = None) -> None:
        self.conn = conn
        self.max_wait = max_wait
        #: the hosts' storage events, followed beside the properties (None: not followed)
        self.feed = feed
        self._feed_on = False  # the feed's collector is part of the vCenter session's property filter
        self._events_due = False
        #: when the watch first saw a problem that is still there (Inventory.since)
        self._since: dict[str, datetime] = {}
        #: how many times the watch started over after a lost session or connection
        self.resyncs = 0
        #: the latest inventory returned (None before the first)
        self.inventory: Inventory | None = None
        #: when vCenter's answer behind the latest inventory had arrived (``time.monotonic()``): what follows is
        #: ours (decoding it, the inventory, the passes)
        self.answered_at = 0.0
        self._records: dict[str, Record] = {}
        self._previous: dict[str, Record] = {}  # during a resync: the records from before it
        self._models: dict[str, Model] = {}
        #: the models by kind, in arrival order (copied into each Inventory)
        self._hosts: dict[str, Host] = {}
        self._datastores: dict[str, Datastore] = {}
        self._vms: dict[str, Vm] = {}
        self._serial = 0  # of the last inventory given out (0: none, or a resync since)
        self._delta: dict[str, set[str]] = {"hosts": set(), "datastores": set(), "vms": set()}  # since then
        self._clusters: dict[str, str] | None = None  # cluster moref -> name, as last converted
        self._ds_names: dict[str, str] | None = None  # datastore name -> moref, as last converted
        self._collector: Any = None
        self._filter: Any = None
        self._views: dict[str, Any] = {}
        self._version: str | None = None  # None: not set up; "": set up, initial update pending
        self._generation = -1
        self._started = False
        self._failures = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._port_names = dict(getattr(getattr(conn, "settings", None), "port_names", ()))
        self._properties = PROPERTIES  # the properties asked for (properties_for the connection's API version)

    # -- context manager / iteration ------------------------------------------------------------

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Inventory]:
        while not self._closed.is_set():
            inventory = self.next_inventory(None)
            if inventory is None:
                return
            yield inventory

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- the loop -------------------------------------------------------------------------------

    def next_inventory(self, timeout: float | None = None) -> Inventory | None:
        """The next inventory: at once the first time, else after the next change.

        ``timeout`` seconds (None: no limit) to wait for a change; ``None`` is returned if none
        came, or if the watcher was closed. Errors that reconnecting can't cure are raised as
        :class:`VsgtError`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed.is_set():
            try:
                if self._version is None or self._generation != self.conn.generation:
                    inventory = self._resync()
                    self._failures = 0
                    return inventory
                changed = self._wait(deadline)
                self._failures = 0
            except Exception as exc:  # noqa: BLE001
                if self._closed.is_set():
                    return None
                self._recover(exc)
                continue
            if changed:
                self.inventory = self._inventory()
                return self.inventory
            if deadline is not None and time.monotonic() >= deadline:
                return None  # timed out (None), or changes that changed no model object (False)
        return None

    def _recover(self, exc: Exception) -> None:
        """After a failed call: resync from scratch, after logging in again when the session or the
        connection was lost (:func:`.task.classify`). Raises what that can't cure, translated. Repeated
        failures back off (up to 5 s; :meth:`close` cuts the pause short)."""
        self._version = None
        self._failures += 1
        if self._failures > 1:
            self._closed.wait(min(5.0, 0.1 * 2 ** (self._failures - 2)))
        if isinstance(exc, (_Resync, vmodl.fault.ManagedObjectNotFound)):
            log.warning("watch lost its property collector: resyncing")
            return
        outcome = classify(self.conn, exc, "watch the inventory", self._generation)
        if not isinstance(outcome, Transient):
            raise outcome from None
        log.warning("%s: resyncing", outcome)

    def close(self) -> None:
        """Stop: cancel a wait in progress and drop the collector, views and filter (best effort)."""
        if self._closed.is_set():
            return
        self._closed.set()
        collector = self._collector
        if collector is not None:
            try:
                collector.CancelWaitForUpdates()
            except Exception:  # noqa: BLE001
                pass
        self._teardown()
        if self.feed is not None:
            self.feed.close()

    # -- internals ------------------------------------------------------------------------------

    def _setup(self) -> None:
        content = self.conn.content
        self._generation = self.conn.generation
        self._collector = content.propertyCollector.CreatePropertyCollector()
        self._views = create_views(content)
        self._properties = properties_for(api_version(content))
        self._filter = self._collector.CreateFilter(filter_spec(self._views, self._properties), partialUpdates=True)
        self._version = ""
        self._feed_on = False
        if self.feed is not None:
            try:
                self.feed.setup()
                self._collector.CreateFilter(self.feed.filter_spec(), partialUpdates=True)
                self._feed_on = True
            except Exception as err:  # noqa: BLE001 - without events the truth still stands on the properties
                if is_session_lost(err) or is_connection_lost(err):
                    raise
                log.warning("not following the hosts' storage events: %s: %.200s", type(err).__name__, err)

    def _teardown(self) -> None:
        with self._lock:
            collector, views = self._collector, self._views
            self._collector, self._filter, self._views = None, None, {}
        if self._generation != self.conn.generation:
            return  # made under a session that is gone, and gone with it
        if collector is not None:
            try:
                collector.DestroyPropertyCollector()  # destroys its filters too
            except Exception:  # noqa: BLE001
                pass
        destroy_views(views)

    def _resync(self) -> Inventory | None:
        """(Re)build the collector and load the full state from the filter's initial update."""
        self.answered_at = time.monotonic()
        self._teardown()
        self._setup()
        # The records and models stay: the initial update re-reads every object, and one equal to what we had
        # keeps its identity (compared as it arrives, so the old and the new copy of 20,000 VMs are never held
        # at once: that peak stayed in the resident size). After a reconnect the reconciler then looks only at
        # what really changed meanwhile (at 20,000 VMs that saves a pass over every VM).
        self._previous, self._records = self._records, {}
        self._clusters = self._ds_names = None
        with gc_paused():
            try:
                self._wait(None)
            finally:
                self._previous = {}
            for mo in [mo for mo in self._models if mo not in self._records]:  # gone while we were away
                self._by_kind(self._models.pop(mo)).pop(mo, None)
                for key in [k for k in self._since if k == mo or k.startswith(mo + "/")]:
                    del self._since[key]
            if self._started:
                self.resyncs += 1
            self._started = True
            self.inventory = self._inventory(whole=True)
        # What stays is long-lived and acyclic: keep full collections from rescanning it. The last freeze
        # also caught what other threads held then and dropped since (a failing write's exception and its
        # frames are cycles): unfreeze first, so that is collected now rather than kept for good.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        release_free_memory()
        return self.inventory

    def _wait_seconds(self, deadline: float | None) -> int:
        # Keep each wait shorter than the HTTP timeout, so a quiet vCenter isn't a dead one.
        longest = max(1, int(min(self.max_wait, self.conn.settings.timeout - 5)))
        if deadline is None:
            return longest
        remaining = deadline - time.monotonic()
        return max(0, min(longest, math.ceil(remaining)))

    def _wait(self, deadline: float | None) -> bool | None:
        """One WaitForUpdatesEx (more while ``truncated``); True if a model object changed.

        None when the wait timed out with no update at all.
        """
        collector = self._collector
        if collector is None:
            raise _Resync()
        # The initial update (version "") comes at once; a wait bound keeps an empty inventory
        # from blocking forever.
        options = PC.WaitOptions(maxWaitSeconds=self._wait_seconds(deadline), maxObjectUpdates=MAX_OBJECT_UPDATES)
        update = fastdecode.invoke(None, collector, "WaitForUpdatesEx", version=self._version, options=options)
        self.answered_at = fastdecode.answered_at()
        if update is None:
            return None
        touched: dict[str, str] = {}
        refetch: dict[str, Any] = {}
        while True:
            self._version = update.version
            for filter_update in update.filterSet or ():
                for object_update in filter_update.objectSet or ():
                    self._apply(object_update, touched, refetch)
            if not update.truncated:
                break
            # more of the same version pending: fetch it now, without waiting
            update = fastdecode.invoke(None, collector, "WaitForUpdatesEx", version=self._version,
                                       options=PC.WaitOptions(maxWaitSeconds=0, maxObjectUpdates=MAX_OBJECT_UPDATES))
            if update is None:
                break
        if refetch:
            self._refetch(refetch, touched)
        changed = self._reconvert(touched)
        if self._events_due:
            self._events_due = False
            changed = self.feed.read() or changed  # type: ignore[union-attr]
        return changed

    def _apply(self, update: Any, touched: dict[str, str], refetch: dict[str, Any]) -> None:
        ref = update.obj
        mo, kind = ref._moId, ref._wsdlName
        if kind == "EventHistoryCollector":
            self._events_due = self._feed_on  # a storage event was posted: read it after this update
            return
        if kind not in PROPERTIES:
            return
        touched[mo] = kind
        if update.kind == "leave":
            self._records.pop(mo, None)
            refetch.pop(mo, None)
            return
        record = self._records.get(mo)
        if update.kind == "enter" or record is None:
            record = self._records[mo] = Record(kind=kind, props={})
        for change in update.changeSet or ():
            if not apply_compact_change(record, change.name, str(change.op), change.val):
                refetch[mo] = ref
        old = self._previous.pop(mo, None)
        if old is not None and old == record:
            self._records[mo] = old  # a resync found it unchanged
        for missing in getattr(update, "missingSet", None) or ():
            fault = getattr(missing.fault, "fault", missing.fault)
            if isinstance(fault, vim.fault.NotAuthenticated):
                raise fault

    def _refetch(self, refs: dict[str, Any], touched: dict[str, str]) -> None:
        """Re-read objects whose change we could not apply in place (one call for all of them)."""
        spec = object_filter_spec(list(refs.values()), self._properties)
        seen: set[str] = set()
        for content in retrieve(self._collector, [spec], None):
            mo, record = record_of(content)
            self._records[mo] = compact_record(record.kind, record.props)
            seen.add(mo)
        for mo in set(refs) - seen:  # gone meanwhile
            self._records.pop(mo, None)
        touched.update({mo: ref._wsdlName for mo, ref in refs.items()})

    def _reconvert(self, touched: dict[str, str]) -> bool:
        """Re-assemble the touched objects (and their dependants); True if a model changed."""
        if not touched:
            return False
        kinds = set(touched.values())
        dirty = set(touched)
        # A cluster's name is part of its hosts; a datastore's name resolves VM files. Only a change of
        # those names touches the dependants: a path fault republishes a datastore's mounts, and
        # re-converting 20,000 VMs for it would cost a second.
        clusters, ds_by_name = self._clusters, self._ds_names
        if CLUSTER in kinds or clusters is None:
            clusters = cluster_names(self._records)
            if self._clusters is not None and clusters != self._clusters:
                dirty.update(mo for mo, r in self._records.items() if r.kind == HOST)
        if ds_by_name is None or DATASTORE in kinds and not names_hold(
                ds_by_name, self._records, (mo for mo, kind in touched.items() if kind == DATASTORE)):
            ds_by_name = datastore_names(self._records)
            if self._ds_names is not None and ds_by_name != self._ds_names:
                dirty.update(mo for mo, r in self._records.items() if r.kind == VM)
        self._clusters, self._ds_names = clusters, ds_by_name
        changed = False
        for mo in dirty:
            record = self._records.get(mo)
            old = self._models.get(mo)
            new = assemble_record(mo, record, clusters, ds_by_name, self._port_names) if record is not None else None
            if new is None:
                if old is not None:
                    del self._models[mo]
                    self._by_kind(old).pop(mo, None)
                    self._delta[_kind(old)].add(mo)
                    changed = True
                continue
            if new != old:
                if isinstance(new, Vm) and isinstance(old, Vm) and new.disks == old.disks:
                    new = replace(new, disks=old.disks)  # a new document: the disks stay the same objects
                self._models[mo] = new
                if old is not None and type(old) is not type(new):
                    self._by_kind(old).pop(mo, None)
                    self._delta[_kind(old)].add(mo)
                self._by_kind(new)[mo] = new
                self._delta[_kind(new)].add(mo)
                changed = True
                if isinstance(new, Host):
                    self._track(old if isinstance(old, Host) else None, new)
        return changed

    def _track(self, old: Host | None, new: Host) -> None:
        """Note when a problem of this host first appeared: its connection, and each LUN with a path that is not
        available or a state that is not ok. The truth says "seen since" from it when no event says since when."""
        now = datetime.now(timezone.utc)
        since = self._since
        if new.connected:
            since.pop(new.moref, None)
        else:
            since.setdefault(new.moref, now)
        before = troubled(old) if old is not None else set()
        after = troubled(new)
        for name in before - after:
            since.pop(f"{new.moref}/{name}", None)
        for name in after - before:
            since.setdefault(f"{new.moref}/{name}", now)

    def _by_kind(self, model: Model) -> dict[str, Any]:
        if isinstance(model, Host):
            return self._hosts
        if isinstance(model, Datastore):
            return self._datastores
        return self._vms

    def _inventory(self, whole: bool = False) -> Inventory:
        """The inventory now, stamped with what changed since the last one given out (``whole``: after a
        resync, where that is not kept)."""
        events = dict(self.feed.open) if self.feed is not None else {}
        found = self._delta
        delta = None if whole or not self._serial else Delta(
            self._serial, hosts=frozenset(found["hosts"]), datastores=frozenset(found["datastores"]),
            vms=frozenset(found["vms"]))
        inv = Inventory(hosts=dict(self._hosts), datastores=dict(self._datastores), vms=dict(self._vms),
                        device_events=events, since=dict(self._since)).stamped(delta)
        self._serial = inv.serial
        for found in self._delta.values():
            found.clear()
        return inv


def _kind(model: Model) -> str:
    """The inventory's mapping a model object lives in (:class:`~vsguesttruth.model.Delta`'s field)."""
    if isinstance(model, Host):
        return "hosts"
    return "datastores" if isinstance(model, Datastore) else "vms"


def troubled(host: Host) -> set[str]:
    """The canonical names of a host's LUNs with a path that is not available or a state that is not ok."""
    bad = {p.lun for p in host.paths if not p.state.available}
    bad.update(lun.canonical_name for lun in host.luns if lun.operational_state[:1] not in (("ok",), ("unknownState",)))
    return bad


def apply_compact_change(record: Record, name: str, op: str, val: Any) -> bool:
    """Apply one PropertyChange to a record of compact values; False if the object must be re-read.

    A change at a requested path replaces (or removes) its compact value; a change above requested
    paths (``config`` when we hold ``config.storageDevice.scsiLun``) yields their new values; a
    change below one can't be applied to a compact value (False).
    """
    requested = PROPERTIES[record.kind]
    props = record.props
    removed = op in ("remove", "indirectRemove")
    if name in requested:
        if removed:
            props.pop(name, None)
        else:
            props[name] = reduce_value(record.kind, name, val)
        return True
    for root in requested:
        if name.startswith(root + ".") or name.startswith(root + "["):
            return False
    for root in requested:
        if root.startswith(name + "."):
            if removed or val is None:
                props.pop(root, None)
                continue
            sub = val
            try:
                for segment in parse_path(root[len(name):]):
                    sub = getattr(sub, str(segment), None) if sub is not None else None
            except ValueError:
                return False
            if sub is None:
                props.pop(root, None)
            else:
                props[root] = reduce_value(record.kind, root, sub)
    return True  # (a path we don't hold changes nothing we hold)


def watch(conn: Connection, *, max_wait: float = 30.0) -> Iterator[Inventory]:
    """Yield the full inventory, then a new one after every change, forever.

    Resyncs by itself after a lost session (the next value is a full fresh inventory). Close the
    generator (``.close()`` or leaving a ``for`` loop) to stop; errors are :class:`VsgtError`.
    """
    watcher = Watcher(conn, max_wait=max_wait)
    try:
        yield from watcher
    finally:
        watcher.close()


__all__ = ["Watcher", "watch", "VsgtError"]
