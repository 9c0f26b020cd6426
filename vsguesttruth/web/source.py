"""Where the web app gets its truth: a small protocol, a fixed inventory, and the live one of a vCenter informer.

The app only needs the latest :class:`~vsguesttruth.model.Inventory` (and the service level to judge it
by). Live, it reads the vCenter informer (``vsguesttruth.vcenter.Informer``): ``vsguesttruth serve`` shares
the one its reconcile loop reads (:meth:`WatcherSource.sharing`), the standalone ``vsguesttruth web`` runs
one of its own in a daemon thread (:class:`WatcherSource`).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol, runtime_checkable

from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.policy import ServiceLevel

from . import metrics


@runtime_checkable
class InventorySource(Protocol):
    """What the app reads. ``latest()`` is None until the first inventory is in.

    Optional attributes the app uses when present: ``level`` (a ServiceLevel, default ServiceLevel()),
    ``version`` (an int that grows with every new inventory: lets pages skip unchanged data),
    ``updated_at`` (time.time() of the latest inventory), ``error`` (the last vCenter error, "" if none),
    ``wait_version(after, timeout)`` (block until an inventory newer than version ``after`` is in).
    """

    def latest(self) -> Inventory | None: ...


class StaticSource:
    """A fixed (or hand-replaced) inventory: unit tests, and anything that already has one."""

    def __init__(self, inventory: Inventory | None = None, level: ServiceLevel | None = None) -> None:
        self.level = level or ServiceLevel()
        self.version = 0
        self.updated_at = 0.0
        self.error = ""
        self._inv: Inventory | None = None
        if inventory is not None:
            self.set(inventory)

    def latest(self) -> Inventory | None:
        return self._inv

    def set(self, inventory: Inventory) -> None:
        self._inv = inventory
        self.version += 1
        self.updated_at = time.time()


def track(informer: Any) -> None:
    """Count the informer's answers in /metrics: a new inventory, or a quiet wait (vCenter still there)."""
    informer.listen(lambda inv: metrics.inventory_updated() if inv is not None else metrics.watch_heard())


class WatcherSource:
    """A live inventory from a vCenter informer, and the service level the pages judge it by.

    ``WatcherSource(connect, level)`` makes its own informer, started by :meth:`start` in a daemon thread:
    ``connect`` returns a :class:`~vsguesttruth.vcenter.Connection` and is called again (after ``retry``
    seconds) when the watch fails for good; :meth:`stop` ends it and closes the connection.
    """

    def __init__(self, connect: Callable[[], Any] | None = None, level: ServiceLevel | None = None, *,
                 poll: float = 5.0, retry: float = 2.0, informer: Any = None) -> None:
        if informer is None:
            from vsguesttruth.vcenter import Informer

            informer = Informer(connect=connect, poll=poll, retry=retry, on_error=_count_error)
            track(informer)
        self.informer = informer
        self.level = level or ServiceLevel()

    @classmethod
    def sharing(cls, informer: Any, level: ServiceLevel | None = None) -> "WatcherSource":
        """The pages of an informer someone else reads and stops (the reconcile loop's)."""
        return cls(level=level, informer=informer)

    def start(self) -> "WatcherSource":
        self.informer.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.informer.close()

    def latest(self) -> Inventory | None:
        return self.informer.latest()

    def wait_version(self, after: int, timeout: float) -> int:
        return self.informer.wait_version(after, timeout)

    @property
    def version(self) -> int:
        return self.informer.version

    @property
    def updated_at(self) -> float:
        return self.informer.updated_at

    @property
    def error(self) -> str:
        return self.informer.error


def _count_error(err: BaseException) -> None:
    metrics.vcenter_error(type(err).__name__ if isinstance(err, VsgtError) else "internal")
