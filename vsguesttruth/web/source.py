"""Where the web app gets its truth: a small protocol, and a runner that keeps a vCenter watch going.

The app only needs the latest :class:`~vsguesttruth.model.Inventory` (and the service level to judge it
by). F's reconcile loop (``vsguesttruth serve``) already has one, so it hands the app an object with a
``latest()`` method; the standalone ``vsguesttruth web`` command uses :class:`WatcherSource`, which runs a
:class:`~vsguesttruth.vcenter.watch.Watcher` in a background thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol, runtime_checkable

from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.policy import ServiceLevel

from . import metrics

log = logging.getLogger(__name__)


@runtime_checkable
class InventorySource(Protocol):
    """What the app reads. ``latest()`` is None until the first inventory is in.

    Optional attributes the app uses when present: ``level`` (a ServiceLevel, default ServiceLevel()),
    ``version`` (an int that grows with every new inventory: lets pages skip unchanged data),
    ``updated_at`` (time.time() of the latest inventory), ``error`` (the last vCenter error, "" if none).
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


class WatcherSource:
    """A live inventory from a vCenter watch, kept in a daemon thread.

    ``connect`` is a callable returning a :class:`~vsguesttruth.vcenter.connect.Connection`; it is called
    again (with backoff) when the watch fails for good. ``stop()`` ends the thread and closes the
    connection. ``wait_version(v, timeout)`` blocks until an inventory newer than version ``v`` is in.
    """

    def __init__(self, connect: Callable[[], Any], level: ServiceLevel | None = None, *,
                 poll: float = 5.0, retry: float = 2.0) -> None:
        self._connect = connect
        self.level = level or ServiceLevel()
        self.version = 0
        self.updated_at = 0.0
        self.error = ""
        self._poll = poll
        self._retry = retry
        self._inv: Inventory | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._watcher: Any = None
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="vsgt-web-watch", daemon=True)

    def start(self) -> "WatcherSource":
        self._thread.start()
        return self

    def latest(self) -> Inventory | None:
        return self._inv

    def wait_version(self, after: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.version > after or self._stop.is_set(), timeout)

    def _publish(self, inv: Inventory) -> None:
        with self._cond:
            self._inv = inv
            self.version += 1
            self.updated_at = time.time()
            self.error = ""
            self._cond.notify_all()
        metrics.inventory_updated()

    def _run(self) -> None:
        from vsguesttruth.vcenter.watch import Watcher

        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._conn = self._connect()
                with Watcher(self._conn) as watcher:
                    self._watcher = watcher
                    while not self._stop.is_set():
                        inv = watcher.next_inventory(self._poll)
                        if inv is not None:
                            self._publish(inv)
                        elif not watcher.closed:
                            metrics.watch_heard()
            except VsgtError as err:
                if self._stop.is_set():
                    break
                self.error = str(err)
                metrics.vcenter_error(type(err).__name__)
                log.warning("watch failed, retrying in %.0fs: %s", self._retry, err)
                self._close_conn()
                self._stop.wait(self._retry)
            except Exception:  # noqa: BLE001 - keep serving the last inventory; say why
                if self._stop.is_set():
                    break
                log.exception("watch failed")
                metrics.vcenter_error("internal")
                self._close_conn()
                self._stop.wait(self._retry)
            finally:
                self._watcher = None

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        watcher = self._watcher
        if watcher is not None:
            watcher.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._close_conn()
