"""The pace of guestinfo writes: at most ``slots`` ReconfigVM tasks of ours in vCenter at once, worse news first.

vCenter runs a few hundred operations at once and a reconfigure about a second; the service's writes must not
crowd out everybody else's (``[publish] concurrency`` is the number of slots). Within that pace, a document
that shows a new fault goes before the backlog of a first publish or a full pass: a guest should not wait
ten minutes for its fault because 20,000 other documents were due first, and under a storm of path flaps a
failure goes before the recoveries queued ahead of it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable


class Slots:
    """``slots`` worker threads (started on demand) running submitted calls, urgent first, then in order."""

    def __init__(self, slots: int, name: str = "vsgt-publish") -> None:
        self.slots = max(1, slots)
        self.name = name
        self._heap: list[tuple[int, int, Callable[[], Any], Future[Any]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._idle = 0
        self._running = 0
        self._closed = False

    def submit(self, fn: Callable[[], Any], urgent: bool = False, first: bool = False) -> "Future[Any]":
        """Run ``fn`` in a slot: ``first`` calls before all others, then ``urgent`` ones, then the rest, each in
        the order submitted. A call cancelled (its future) before a slot takes it never runs."""
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the publisher is closed")
            heapq.heappush(self._heap, (0 if first else 1 if urgent else 2, next(self._seq), fn, future))
            if self._idle == 0 and len(self._workers) < self.slots:
                worker = threading.Thread(target=self._work, name=f"{self.name}-{len(self._workers)}", daemon=True)
                self._workers.append(worker)
                worker.start()
            else:
                self._cond.notify()
        return future

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._heap)

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def close(self, cancel: bool = False) -> None:
        """Let the workers finish what runs (and, unless ``cancel``, what waits); queued calls are cancelled."""
        with self._cond:
            self._closed = True
            if cancel:
                for _, _, _, future in self._heap:
                    future.cancel()
                self._heap.clear()
            self._cond.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.join()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._heap and not self._closed:
                    self._cond.wait()
                self._idle -= 1
                if not self._heap:
                    return
                _, _, fn, future = heapq.heappop(self._heap)
                if not future.set_running_or_notify_cancel():
                    continue
                self._running += 1
            try:
                future.set_result(fn())
            except BaseException as err:  # noqa: BLE001 - the caller's future carries it
                future.set_exception(err)
            finally:
                with self._cond:
                    self._running -= 1
