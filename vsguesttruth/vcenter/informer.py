"""One live inventory per vCenter, shared: the informer (client-go's word) owns the watch and everyone reads it.

The watch itself (:class:`~.watch.Watcher`: a PropertyCollector filter, WaitForUpdatesEx, resync after a
lost session) is read here and nowhere else. The informer keeps the latest
:class:`~vsguesttruth.model.Inventory` as a versioned snapshot (:meth:`latest`, :attr:`version`,
:attr:`updated_at`, :attr:`error`), lets readers wait for a newer version (:meth:`wait_version`: the plugin's
live pages) and tells listeners of every answer of the watch (:meth:`listen`: metrics).

Two ways to drive it:

- inline, :meth:`next`: the reconcile loop (``vsguesttruth serve``) reads the next inventory between its
  passes, with a timeout that is its next timer, and the ``watch`` command reads until its deadline; an
  error the watch cannot cure (:class:`VsgtError`) is raised to the caller;
- in a daemon thread, :meth:`start`: the standalone plugin server; an error the watch cannot cure is
  reported (:attr:`error`, ``on_error``) and the watch starts over after ``retry`` seconds, on a new
  connection when the informer makes its own (``connect``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..gcpause import Settler
from ..model import Inventory
from ..truth.events import HostEvent
from .connect import Connection
from .errors import VsgtError
from .eventfeed import EventFeed
from .watch import Watcher

log = logging.getLogger(__name__)

Listener = Callable[["Inventory | None"], None]

#: the least time (seconds) from one inventory to the next: under a storm of path flaps vCenter has a change
#: every few milliseconds, and a pass per change cost the service most of its CPU in work done per pass (the
#: truth's context, the incidents' grouping); changes that come within it are read together, a tenth of a
#: second later at most. A quiet vCenter's first change is read at once.
PACE = 0.1


class Informer:
    """A live, versioned inventory from one vCenter watch.

    ``conn``: a :class:`Connection` the informer reads through (it stays the caller's); or ``connect``: a
    callable that makes one (the informer closes it, and makes a new one after a failure). ``max_wait``:
    the longest WaitForUpdatesEx; ``poll``: in a thread, how often listeners hear from a quiet vCenter;
    ``retry``: in a thread, the pause before the watch starts over after an error; ``events``: follow the
    hosts' storage events beside the properties (:class:`~.eventfeed.EventFeed`: evidence and "since"), read
    ``catch_up`` seconds back at the start; ``pace``: the least time between two inventories (:data:`PACE`).
    """

    def __init__(self, conn: Connection | None = None, *, connect: Callable[[], Connection] | None = None,
                 max_wait: float = 30.0, poll: float = 5.0, retry: float = 2.0,
                 on_error: Callable[[BaseException], None] | None = None, events: bool = True,
                 catch_up: float = 24 * 3600, pace: float = PACE) -> None:
        if (conn is None) == (connect is None):
            raise ValueError("an Informer reads through a connection or makes one: pass conn or connect")
        self.max_wait = max_wait
        self.events = events
        self.catch_up = catch_up  # seconds of storage events read at the start
        self._feed: EventFeed | None = None  # kept across watchers: what was read is not read again
        self._event_listeners: list[Callable[[list[HostEvent]], None]] = []
        self._settler = Settler()
        self.pace = pace
        self._delivered = float("-inf")  # time.monotonic() when the watch's latest inventory came
        self.poll = poll
        self.retry = retry
        #: grows by one with every inventory the watch delivers (0: none yet)
        self.version = 0
        #: time.time() of the latest inventory
        self.updated_at = 0.0
        #: the last error the watch could not cure ("" since an inventory came after it)
        self.error = ""
        #: of the latest inventory, ``time.monotonic()`` when vCenter's answer had arrived, when the inventory
        #: was built from it, and when the listeners had heard of it
        self.timing = (0.0, 0.0, 0.0)
        self._conn = conn
        self._connect = connect
        self._on_error = on_error
        self._latest: Inventory | None = None
        self._listeners: list[Listener] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._watcher: Watcher | None = None
        self._resyncs = 0  # of watchers already closed
        self._thread: threading.Thread | None = None

    # -- reading ------------------------------------------------------------------------------------

    def latest(self) -> Inventory | None:
        """The latest inventory; None until the first is in."""
        return self._latest

    @property
    def resyncs(self) -> int:
        """How many times the watch started over after a lost session or connection."""
        watcher = self._watcher
        return self._resyncs + (watcher.resyncs if watcher is not None else 0)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_version(self, after: int, timeout: float) -> int:
        """Block until an inventory newer than version ``after`` is in (or ``timeout``, or a stop); the version now."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > after or self._stop.is_set(), timeout)
            return self.version

    def listen(self, listener: Listener) -> None:
        """Call ``listener(inventory)`` after every answer of the watch: the new inventory, or None after a
        wait that brought none (vCenter is quiet, and still there)."""
        self._listeners.append(listener)

    def listen_events(self, listener: Callable[[list[HostEvent]], None]) -> None:
        """Call ``listener(events)`` with every batch of the hosts' storage events the watch reads (the catch-up
        at its start too), in the thread that reads the watch, before the inventory they changed is
        delivered. Nothing is heard with ``events=False``."""
        self._event_listeners.append(listener)

    def next(self, timeout: float | None = None) -> Inventory | None:
        """Read the watch once: the next inventory (at once the first time, else after the next change),
        or None when ``timeout`` seconds (None: no limit) passed without one, or the informer stopped.
        Raises :class:`VsgtError` when the watch cannot go on (it resyncs by itself after a lost session)."""
        watcher = self._watch()
        if watcher is None:
            return None
        rest = self._delivered + self.pace - time.monotonic()
        if rest > 0:
            if timeout is not None:
                rest = min(rest, timeout)
                timeout -= rest  # the pace is part of the caller's wait, not added to it
            if self._stop.wait(rest):
                return None
        try:
            new = watcher.next_inventory(timeout)
        except VsgtError as err:
            self.error = str(err)
            raise
        if self._stop.is_set():
            return None
        if new is not None:
            self._delivered = time.monotonic()
            with self._cond:
                self._latest, self.version, self.updated_at, self.error = new, self.version + 1, time.time(), ""
                self._cond.notify_all()
        built = time.monotonic()
        for listener in list(self._listeners):
            listener(new)
        if new is not None:
            self.timing = (watcher.answered_at, built, time.monotonic())
        self._settler.settle(quiet=new is None)  # what is alive now is out of the cyclic GC's sight
        return new

    # -- running in a thread ------------------------------------------------------------------------

    def start(self) -> "Informer":
        """Keep reading in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="vsgt-informer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.next(self.poll)
            except Exception as err:  # noqa: BLE001 - keep serving the last inventory; say why, start over
                if self._stop.is_set():
                    break
                if isinstance(err, VsgtError):
                    log.warning("watch failed, retrying in %.0fs: %s", self.retry, err)
                else:
                    log.exception("watch failed")
                if self._on_error is not None:
                    self._on_error(err)
                self._release()
                self._stop.wait(self.retry)
        self._release()

    # -- stopping -----------------------------------------------------------------------------------

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading; callable from any thread and from a signal handler (the wait in progress is
        cancelled from a thread of its own). When the informer runs its own thread, wait up to ``timeout``
        seconds for it to end."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        watcher = self._watcher
        if watcher is not None:
            threading.Thread(target=watcher.close, daemon=True).start()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop, and release the watch (its collector and views) and the connection if the informer made it."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        watcher = self._watcher
        if watcher is not None:
            watcher.close()  # cancels the wait of a thread reading it
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        self._release()

    def __enter__(self) -> "Informer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    def _watch(self) -> Watcher | None:
        """The watcher, made on first use (and after a failure); None once stopped."""
        if self._stop.is_set():
            return None
        if self._watcher is None:
            if self._conn is None:
                self._conn = self._connect()  # type: ignore[misc]
            if self.events and self._feed is None:
                self._feed = EventFeed(self._conn, catch_up_seconds=self.catch_up)
                self._feed.listeners = self._event_listeners
            elif self._feed is not None:
                self._feed.conn = self._conn  # a new connection reads on from the last event read
            self._watcher = Watcher(self._conn, max_wait=self.max_wait, feed=self._feed if self.events else None)
            if self._stop.is_set():  # stopped meanwhile: nothing will cancel a wait any more
                self._release()
                return None
        return self._watcher

    def _release(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            self._resyncs += watcher.resyncs
            watcher.close()
        if self._connect is not None:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - best effort: it failed already
                    pass


__all__ = ["Informer", "Listener"]
