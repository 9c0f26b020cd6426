"""The app's view of its source: the latest inventory's ``TruthContext`` and :class:`~.views.Views`, built once
per inventory version and shared by every request, each VM judged by its own service level (its guest's
policy within the admin's ``[guest]`` bounds, as its guest is told), and the live pages' change feed."""

from __future__ import annotations

import threading
from typing import Mapping

from vsguesttruth.config import GuestConfig
from vsguesttruth.guestinfo import Levels
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.hostindex import HostIndex

from .feed import ChangeFeed
from .incident_views import IncidentSource, IncidentViews
from .source import InventorySource
from .views import Views


class Pages:
    """The latest inventory's TruthContext and :class:`Views`, built once per inventory (many requests ask)."""

    def __init__(self, source: InventorySource, bounds: GuestConfig, incidents: IncidentSource | None = None) -> None:
        self.source = source
        self.bounds = bounds
        self.incidents = incidents
        self._incident_views: IncidentViews | None = None
        self.feed = ChangeFeed()
        self._lock = threading.Lock()
        self._inv: Inventory | None = None
        self._ctx: TruthContext | None = None
        self._views: Views | None = None
        self._levels = Levels(bounds, self.level)
        self._hosts = HostIndex()  # each host's indexes and judgements, kept while it does not change

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

    def get(self) -> tuple[Inventory, TruthContext, Views] | None:
        inv = self.source.latest()
        if inv is None:
            return None
        with self._lock:
            if inv is not self._inv:
                self._levels = Levels(self.bounds, self.level)
                self._inv, self._ctx = inv, TruthContext(inv, self._hosts)
                self._views = Views(inv, self._ctx, self.level_of, previous=self._views)
                kept = self._incident_views
                if kept is not None:
                    # the incident views move to the new inventory here (they hold the views before, and
                    # freeing 20,000 VMs' views takes a tenth of a second: the long poll pays it, not a page)
                    self._incident_views = IncidentViews(kept.state, inv, self._views, self.level, kept.source, kept)
                    del kept
            assert self._ctx is not None and self._views is not None
            return inv, self._ctx, self._views

    def incident_views(self) -> IncidentViews | None:
        """The incidents and findings of the latest inventory and incident state (None: no incidents here, or no
        inventory yet); built again only when either changed."""
        found = self.get() if self.incidents is not None else None
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
