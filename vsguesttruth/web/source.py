"""Where the web app gets its truth: a small protocol, a fixed inventory, and the live one of a vCenter informer.

The app only needs the latest :class:`~vsguesttruth.model.Inventory` (and the service level to judge it
by). Live, it reads the vCenter informer (``vsguesttruth.vcenter.Informer``): ``vsguesttruth serve`` shares
the one its reconcile loop reads (:meth:`WatcherSource.sharing`), the standalone ``vsguesttruth web`` runs
one of its own in a daemon thread (:class:`WatcherSource`). Two side questions go to vCenter on a connection
of their own (or the service's): which vCenter this is (``ServiceContent.about``: the pages compare its
instance UUID with the ``serverGuid`` of the object the vSphere Client shows, in Enhanced Linked Mode), and
the service's vCenter events (what it did: moves, advice, refusals) for the pages' timelines.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol, runtime_checkable

from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.ttlcache import TTLCache

from . import metrics

EVENTS_SECONDS = 24 * 3600  # how far back the timelines read vCenter's events
EVENTS_CACHE_SECONDS = 5.0  # one QueryEvents per VM (or for all) in that time, however many pages ask
EVENTS_STALE_SECONDS = 120.0  # an older reading is still answered while it is read again


@runtime_checkable
class InventorySource(Protocol):
    """What the app reads. ``latest()`` is None until the first inventory is in.

    Optional attributes the app uses when present: ``level`` (a ServiceLevel, default ServiceLevel()),
    ``version`` (an int that grows with every new inventory: lets pages skip unchanged data),
    ``updated_at`` (time.time() of the latest inventory), ``error`` (the last vCenter error, "" if none),
    ``wait_version(after, timeout)`` (block until an inventory newer than version ``after`` is in),
    ``vcenter`` (a dict: ``instance_uuid``, ``name``, ``full_name``, ``api_version``; None when unknown),
    ``events(vm, limit)`` (the service's vCenter events, newest last, as dicts: ``time``, ``vm``, ``vm_name``,
    ``message``, ``user``, ``key``).
    """

    def latest(self) -> Inventory | None: ...


class StaticSource:
    """A fixed (or hand-replaced) inventory: unit tests, and anything that already has one."""

    def __init__(self, inventory: Inventory | None = None, level: ServiceLevel | None = None, *,
                 vcenter: dict | None = None, events: list[dict] | None = None) -> None:
        self.level = level or ServiceLevel()
        self.version = 0
        self.updated_at = 0.0
        self.error = ""
        self.vcenter = vcenter
        self.event_log: list[dict] = list(events or ())
        self._inv: Inventory | None = None
        if inventory is not None:
            self.set(inventory)

    def latest(self) -> Inventory | None:
        return self._inv

    def set(self, inventory: Inventory) -> None:
        self._inv = inventory
        self.version += 1
        self.updated_at = time.time()

    def events(self, vm: str = "", limit: int = 100) -> list[dict]:
        return [e for e in self.event_log if not vm or e.get("vm") == vm][-limit:]


def track(informer: Any) -> None:
    """Count the informer's answers in /metrics: a new inventory, or a quiet wait (vCenter still there)."""
    informer.listen(lambda inv: metrics.inventory_updated() if inv is not None else metrics.watch_heard())


class WatcherSource:
    """A live inventory from a vCenter informer, and the service level the pages judge it by.

    ``WatcherSource(connect, level)`` makes its own informer, started by :meth:`start` in a daemon thread:
    ``connect`` returns a :class:`~vsguesttruth.vcenter.Connection` and is called again (after ``retry``
    seconds) when the watch fails for good; :meth:`stop` ends it and closes the connection. The side questions
    (``vcenter``, ``events``) go through ``conn``, or a connection of its own made with ``connect``.
    ``judged()``: what the reconcile loop sharing the informer judged last of every VM (None: not every VM);
    `status` answers from it rather than judging 20,000 VMs again.
    """

    def __init__(self, connect: Callable[[], Any] | None = None, level: ServiceLevel | None = None, *,
                 poll: float = 5.0, retry: float = 2.0, informer: Any = None, conn: Any = None) -> None:
        if informer is None:
            from vsguesttruth.vcenter import Informer

            informer = Informer(connect=connect, poll=poll, retry=retry, on_error=_count_error)
            track(informer)
        self.informer = informer
        self.level = level or ServiceLevel()
        self._connect = connect
        self._side = conn
        self._own_side = conn is None
        self._side_lock = threading.Lock()
        self._about: dict | None = None
        self._events: TTLCache[tuple[float, list[dict]]] = TTLCache(256)  # VM -> (read at, events)
        self._reading: dict[str, threading.Lock] = {}  # VM ("" all) -> held while its events are read
        self._wanted: queue.SimpleQueue[tuple[str, threading.Lock | None]] = queue.SimpleQueue()  # read again
        self._reader: threading.Thread | None = None  # reads them, one VM (or all) after the other
        self._stopped = False
        self.judged: Callable[[], Any] | None = None

    @classmethod
    def sharing(cls, informer: Any, level: ServiceLevel | None = None, conn: Any = None,
                judged: Callable[[], Any] | None = None) -> "WatcherSource":
        """The pages of an informer someone else reads and stops (the reconcile loop's); ``conn``: the
        connection for the side questions (the service's); ``judged``: the loop's verdicts of every VM."""
        source = cls(level=level, informer=informer, conn=conn)
        source.judged = judged
        return source

    def start(self) -> "WatcherSource":
        self.informer.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.informer.close()
        with self._side_lock:
            self._stopped = True
            self._wanted.put(("", None))  # the reader ends after the reading under way
        with self._side_lock:
            side, self._side = self._side, None
        if side is not None and self._own_side:
            try:
                side.close()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass

    def connection(self) -> Any:
        """The connection for the side questions (the service's, or one of its own made on first use)."""
        return self._conn()

    def _conn(self) -> Any:
        with self._side_lock:
            if self._side is None and self._connect is not None:
                self._side = self._connect()
            return self._side

    @property
    def vcenter(self) -> dict | None:
        """Which vCenter the inventory comes from (asked once); None while vCenter cannot be reached."""
        if self._about is None:
            try:
                conn = self._conn()
                self._about = conn.run(conn.about, "read which vCenter this is") if conn is not None else None
            except VsgtError as err:
                _count_error(err)
        return self._about

    def events(self, vm: str = "", limit: int = 100) -> list[dict]:
        """vsguesttruth's vCenter events of the last day (of one VM, or all), newest last.

        One QueryEvents per VM (or for all) every few seconds however many pages ask: a reading younger than
        ``EVENTS_CACHE_SECONDS`` is answered as it is; an older one (up to ``EVENTS_STALE_SECONDS``) is answered
        too while a thread reads them again, so a page's update never waits on vCenter's event history (a
        tenth to a third of a second at 20,000 VMs); requests that find none wait together for one reading.
        The answer is the same list while the reading is the same (the pages keep what they make of it)."""
        hit, kept = self._events.get(vm)
        if hit:
            read_at, found = kept  # type: ignore[misc]
            if time.monotonic() - read_at >= EVENTS_CACHE_SECONDS:
                self._read_later(vm)
            return found if len(found) <= limit else found[-limit:]
        with self._reading_lock(vm):
            hit, kept = self._events.get(vm)  # another request may have read them meanwhile
            found = kept[1] if hit else self._read_events(vm)  # type: ignore[index]
        return found if len(found) <= limit else found[-limit:]

    def _reading_lock(self, vm: str) -> threading.Lock:
        with self._side_lock:
            if len(self._reading) > 256:  # one lock per VM asked about lately: bounded like the cache
                self._reading = {k: v for k, v in self._reading.items() if v.locked()}
            return self._reading.setdefault(vm, threading.Lock())

    def _read_events(self, vm: str) -> list[dict]:
        from vsguesttruth.vcenter import events

        conn = self._conn()
        if conn is None:
            return []
        since = datetime.now(timezone.utc) - timedelta(seconds=EVENTS_SECONDS)
        found = [e.as_dict() for e in events.query(conn, vm, since=since)]
        hit, kept = self._events.get(vm)
        if hit and kept[1] == found:  # type: ignore[index]
            found = kept[1]  # type: ignore[index]  # nothing new: the same reading
        self._events.put(vm, (time.monotonic(), found), EVENTS_STALE_SECONDS)
        return found

    def _read_later(self, vm: str) -> None:
        """Read ``vm``'s events again in the reader's thread, unless a reading is under way (a thread of its
        own: starting one per reading waits for it to run, while the watch's thread keeps the interpreter)."""
        lock = self._reading_lock(vm)
        if not lock.acquire(blocking=False):
            return
        with self._side_lock:
            if self._stopped:
                lock.release()
                return
            self._wanted.put((vm, lock))
            if self._reader is None:
                self._reader = threading.Thread(target=self._read_wanted, name="vsgt-events", daemon=True)
                self._reader.start()

    def _read_wanted(self) -> None:
        while True:
            vm, lock = self._wanted.get()
            if lock is None:  # stopped
                return
            try:
                self._read_events(vm)
            except Exception as err:  # noqa: BLE001 - the next request reads them itself (and says why)
                _count_error(err)
                self._events.pop(vm)
            finally:
                lock.release()

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
