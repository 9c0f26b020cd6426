"""The app's view of its source: the latest inventory's ``TruthContext`` and :class:`~.views.Views`, built once
per inventory version and shared by every request, each VM judged by its own service level (its guest's
policy within the admin's ``[guest]`` bounds, as its guest is told), and the live pages' change feed."""

from __future__ import annotations

import logging
import threading
import time
from typing import Mapping

from vsguesttruth.config import GuestConfig
from vsguesttruth.errors import VsgtError
from vsguesttruth.guestinfo import Levels
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.hostindex import HostIndex

from .feed import ChangeFeed
from .incident_views import IncidentSource, IncidentViews
from .source import InventorySource
from .views import Views


log = logging.getLogger(__name__)

#: the inventory versions whose views are kept for pages that ask for them (/changes told them of those)
KEEP_VERSIONS = 3
ASKED_SECONDS = 120  # what pages asked for this lately is built ahead of their next fetch
EVENTS_READ = 1000  # the service's events the incident views read (the newest)


class Pages:
    """The latest inventory's TruthContext and :class:`Views`, built once per inventory (many requests ask)."""

    def __init__(self, source: InventorySource, bounds: GuestConfig, incidents: IncidentSource | None = None) -> None:
        self.source = source
        self.bounds = bounds
        self.incidents = incidents
        self._incident_views: IncidentViews | None = None
        self.feed = ChangeFeed()
        self._lock = threading.Lock()  # the kept views: held for lookups only
        self._building = threading.Lock()  # held while a new inventory is judged
        self._wanted = threading.Event()  # judge_later() asked
        self._judge: threading.Thread | None = None
        self._inv: Inventory | None = None
        self._ctx: TruthContext | None = None
        self._views: Views | None = None
        self._levels = Levels(bounds, self.level)
        self._hosts = HostIndex()  # each host's indexes and judgements, kept while it does not change
        self._built: dict[int, tuple[Inventory, TruthContext, Views]] = {}  # version -> its views, the latest few
        self._asked: dict[tuple, float] = {}  # the overview orders pages asked for -> when last
        self._asked_timeline: dict[int, float] = {}  # the timeline lengths pages asked for -> when last

    @property
    def level(self) -> ServiceLevel:
        return getattr(self.source, "level", None) or ServiceLevel()

    @property
    def version(self) -> int:
        return getattr(self.source, "version", 0)

    def level_of(self, vm: Vm) -> tuple[ServiceLevel, dict]:
        """The service level ``vm`` is judged by: its guest's policy within the admin's bounds, else the service's
        (:class:`~vsguesttruth.guestinfo.Levels`, the same reading as the CLI's and the service's)."""
        return self._levels.of(vm), self._levels.source(vm)

    def levels(self) -> Levels:
        return self._levels

    def get(self, version: int | None = None) -> tuple[Inventory, TruthContext, Views] | None:
        """The latest inventory's truth and views; with ``version`` (one a live page was told of by /changes),
        that version's while it is kept: a page that fetches its rows after a change gets the views the change
        was computed from, already built, even when a newer inventory came meanwhile (it hears of that one
        next). A new inventory is judged by one request at a time; requests for a kept version never wait."""
        if version is not None:
            with self._lock:
                found = self._built.get(version)
            if found is not None:
                return found
        with self._lock:
            found = self._current()
        if found is not None:
            return found
        with self._building:
            with self._lock:
                found = self._current()  # another request may have judged it meanwhile
            if found is not None:
                return found
            seen = self.version  # read before the inventory: never newer than it
            inv = self.source.latest()
            if inv is None:
                return None
            levels = Levels(self.bounds, self.level)
            ctx = TruthContext(inv, self._hosts)
            with self._lock:
                self._levels, previous, kept = levels, self._views, self._incident_views
            views = Views(inv, ctx, self.level_of, previous=previous)
            if kept is not None:
                # the incident views move to the new inventory here (they hold the views before, and freeing
                # 20,000 VMs' views takes a tenth of a second: the long poll pays it, not a page)
                moved = IncidentViews(kept.state, inv, views, self.level, kept.source, kept)
            with self._lock:
                self._inv, self._ctx, self._views = inv, ctx, views
                if kept is not None and self._incident_views is kept:
                    self._incident_views = moved
                found = self._remember(seen, (inv, ctx, views))
            del kept, previous
            return found

    def newest(self) -> tuple[Inventory, TruthContext, Views] | None:
        """The newest views built, without judging a newer inventory (None: none yet)."""
        with self._lock:
            return self._built[max(self._built)] if self._built else None

    def judge_later(self) -> None:
        """Judge the latest inventory in the pages' own thread (a request that needs it meanwhile waits for that
        judging instead of doing it again)."""
        self._wanted.set()
        with self._lock:
            if self._judge is None:
                self._judge = threading.Thread(target=self._judging, name="vsgt-pages", daemon=True)
                self._judge.start()

    def _judging(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self.get()
            except Exception:  # noqa: BLE001 - the next request judges it itself (and says why)
                log.exception("judging the latest inventory failed")

    def _current(self) -> tuple[Inventory, TruthContext, Views] | None:
        """The views of the source's latest inventory if they are built (under ``_lock``), remembered under the
        source's version."""
        seen = self.version
        inv = self.source.latest()
        if inv is None or inv is not self._inv:
            return None
        assert self._ctx is not None and self._views is not None
        return self._remember(seen, (inv, self._ctx, self._views))

    def _remember(self, version: int, found: tuple[Inventory, TruthContext, Views]) -> tuple[Inventory, TruthContext, Views]:
        self._built[version] = found
        while len(self._built) > KEEP_VERSIONS:
            self._built.pop(next(iter(self._built)))
        return found

    def overview(self, views: Views, sort: str, verdicts: tuple[str, ...], unhealthy: bool) -> list[dict]:
        """The overview's disk table of ``views`` in one order (:meth:`Views.overview`), remembered as asked for."""
        ordered = views.overview(sort, verdicts, unhealthy)
        self._asked[sort, verdicts, unhealthy] = time.monotonic()
        return ordered

    def incident_events(self) -> list[dict]:
        """The service's vCenter events the incident views read (newest last): the source's reading, shared by
        every request for a few seconds (the same list while it is the same reading)."""
        reader = getattr(self.source, "events", None)
        return reader("", EVENTS_READ) if reader is not None else []

    def timeline(self, views: IncidentViews, limit: int) -> list[dict]:
        """The incident timeline's newest ``limit`` items (:meth:`IncidentViews.timeline`), remembered as asked
        for."""
        items = views.timeline(self.incident_events(), limit)
        self._asked_timeline[limit] = time.monotonic()
        return items

    def warm(self, views: Views, version: int) -> None:
        """What a page fetches right after a change, for the views the change is told from (``version``): the
        overview orders and the timelines pages asked for in the last two minutes (then a fetch is a slice),
        the incidents' rows."""
        now = time.monotonic()
        for key, at in list(self._asked.items()):
            if now - at > ASKED_SECONDS:
                self._asked.pop(key, None)
            else:
                views.overview(*key)
        found = self.incident_views(version)
        if found is None:
            return
        limits = []
        for limit, at in list(self._asked_timeline.items()):
            if now - at > ASKED_SECONDS:
                self._asked_timeline.pop(limit, None)
            else:
                limits.append(limit)
        events = None
        if limits:  # a page read them lately: the reading is kept (a stale one is read again in the background)
            try:
                events = self.incident_events()
            except VsgtError:
                pass  # the page's own request says why
        found.warm(events, tuple(limits))

    def version_of(self, views: Views) -> int:
        """The version a page is told for ``views`` (the one to ask for with ``get(version)``)."""
        with self._lock:
            return next((v for v, found in reversed(self._built.items()) if found[2] is views), self.version)

    def incident_views(self, version: int | None = None) -> IncidentViews | None:
        """The incidents and findings of the latest inventory (or of ``version``'s, as :meth:`get`) and incident
        state (None: no incidents here, or no inventory yet); built again only when either changed."""
        found = self.get(version) if self.incidents is not None else None
        if found is None or self.incidents is None:
            return None
        inv, _, views = found
        state = self.incidents.state()
        with self._lock:
            kept = self._incident_views
            if kept is None or kept.state is not state or kept.inv is not inv:
                kept = self._incident_views = IncidentViews(state, inv, views, self.level, self.incidents, kept)
            return kept

    @property
    def incidents_version(self) -> int | None:
        """The incident state's version (None: no incidents here): live pages wait on it too, because the
        lifecycle takes in an inventory after the inventory's version is out."""
        return self.incidents.state().version if self.incidents is not None else None

    def disk_incidents(self) -> Mapping[tuple[str, int], tuple[str, ...]]:
        """(VM moref, disk key) -> the ids of the open incidents behind that disk's verdict."""
        return self.incidents.state().by_disk if self.incidents is not None else {}

    def incidents_of(self, vm: str) -> dict[int, list[dict]]:
        """Disk key -> the open incidents behind the verdict of that disk of ``vm`` (id, kind, component, cause,
        since): what its guest's document names."""
        if self.incidents is None:
            return {}
        state = self.incidents.state()
        found = {i.id: i for i in state.open}
        return {key: [{"id": i.id, "kind": i.kind.value, "component": i.failure.name, "cause": i.failure.cause,
                       "since": i.since.isoformat()} for i in (found.get(x) for x in ids) if i is not None]
                for key, ids in state.by_vm.get(vm, {}).items()}

    def incident_metrics(self) -> dict | None:
        """The incident and audit samples for /metrics (computed once per version, not per scrape)."""
        views = self.incident_views()
        return views.metrics if views is not None else None

    def snapshot(self) -> tuple[Inventory, TruthContext, Views] | None:
        """``(inventory, context, views)`` for /metrics: the views judge each VM by its own level."""
        return self.get()
