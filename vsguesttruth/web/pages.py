"""The app's view of its source: the latest inventory's ``TruthContext`` and :class:`~.views.Views`, built once
per inventory version and shared by every request, each VM judged by its own service level (its guest's
policy within the admin's ``[guest]`` bounds, as its guest is told), and the live pages' change feed."""

from __future__ import annotations

import threading

from vsguesttruth.config import GuestConfig
from vsguesttruth.guestinfo import POLICY
from vsguesttruth.guestinfo.policy import effective_policy
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext

from .feed import ChangeFeed
from .source import InventorySource
from .views import Views


class Pages:
    """The latest inventory's TruthContext and :class:`Views`, built once per inventory (many requests ask)."""

    def __init__(self, source: InventorySource, bounds: GuestConfig) -> None:
        self.source = source
        self.bounds = bounds
        self.feed = ChangeFeed()
        self._lock = threading.Lock()
        self._inv: Inventory | None = None
        self._ctx: TruthContext | None = None
        self._views: Views | None = None
        self._levels: dict[str | None, tuple[ServiceLevel, dict]] = {}

    @property
    def level(self) -> ServiceLevel:
        return getattr(self.source, "level", None) or ServiceLevel()

    @property
    def version(self) -> int:
        return getattr(self.source, "version", 0)

    def level_of(self, vm: Vm) -> tuple[ServiceLevel, dict]:
        """The service level ``vm`` is judged by: its guest's policy within the admin's bounds, else the service's."""
        raw = vm.guestinfo.get(POLICY)
        found = self._levels.get(raw)
        if found is None:
            policy = effective_policy(raw, self.bounds, self.level)
            found = self._levels[raw] = (policy.level, {**policy.level.as_dict(), "source": policy.status,
                                                        "message": policy.message})
        return found

    def get(self) -> tuple[Inventory, TruthContext, Views] | None:
        inv = self.source.latest()
        if inv is None:
            return None
        with self._lock:
            if inv is not self._inv:
                self._levels = {}
                self._inv, self._ctx = inv, TruthContext(inv)
                self._views = Views(inv, self._ctx, self.level_of, previous=self._views)
            assert self._ctx is not None and self._views is not None
            return inv, self._ctx, self._views

    def snapshot(self) -> tuple[Inventory, TruthContext, ServiceLevel] | None:
        """``(inventory, context, level)`` for /metrics."""
        found = self.get()
        return None if found is None else (found[0], found[1], self.level)


def event_kind(message: str) -> str:
    """What one of the service's vCenter events says it did: moved, moving, failed, advice, held, refused, note."""
    text = message.removeprefix("vsguesttruth: ")
    for prefix, kind in (("moved ", "moved"), ("moving", "moving"), ("manual move of", "moving"),
                         ("advice", "advice"), ("holding ", "held"), ("not moving", "refused")):
        if text.startswith(prefix):
            return "failed" if " failed" in text and kind == "moving" else kind
    return "failed" if "failed" in text else "note"
