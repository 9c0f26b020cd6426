"""Writes in flight: a pass hands its ReconfigVM writes to the writer and goes on (``serve``'s pipeline).

On vCenter a ``ReconfigVM_Task`` queues and runs for about a second; waiting for a pass's writes before
reading the next change made every fault wait for the writes of the one before it. Here a pass submits each
write (the writer runs at most ``[publish] concurrency`` at once: the pace vCenter sees) and the next pass
accounts for those that ended. One write per VM at a time: a VM whose write is still in flight is held and
planned again, level-triggered, once it has ended, so it never gets two writes racing in vCenter.

Without a writer that can ``submit`` (``publish --once``, dry runs, the tests' writers) nothing is pipelined:
the reconciler writes a pass's plans and waits for them, as before.
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future, wait
from typing import Any, Iterable, Iterator

from .ports import Write, WriteResult

#: seconds between looks at the writes in flight (their ends are accounted for by the next pass)
LOOK_EVERY = 0.25
#: seconds a pass gives the writes in flight of the VMs it is about to plan, to end
ENDING_WAIT = 0.1
#: the error of a write taken back before it was sent (:meth:`InFlight.supersede`): not a failure
SUPERSEDED = "superseded: the VM changed again before the write was sent"


class InFlight:
    """The pipelined writes of a reconciler, by VM moref."""

    def __init__(self, writer: Any = None) -> None:
        submit = getattr(writer, "submit", None)
        self._submit = submit if callable(submit) else None
        self._writes: dict[str, tuple[Any, Write, Future[WriteResult], Any]] = {}
        self._held: set[str] = set()  # VMs that changed while their write was in flight
        self._later: set[str] = set()  # VMs not planned yet: the writer had enough to do
        self._superseded: set[str] = set()  # VMs whose queued write was taken back: a newer change replans them
        self._ended = threading.Event()
        self.ending_wait = ENDING_WAIT
        # writes handed over at most: enough to keep every slot busy between two passes and to plan a first
        # publish in a few dozen passes; few enough that 20,000 planned documents are not held at once (a
        # change's write goes before them anyway: urgent)
        self.limit = 16 * max(1, int(getattr(writer, "concurrency", 8) or 8))

    @property
    def pipelined(self) -> bool:
        return self._submit is not None

    def __len__(self) -> int:
        return len(self._writes)

    def __contains__(self, moref: str) -> bool:
        return moref in self._writes

    def submit(self, plan: Any, w: Write, owner: Any = None, urgent: bool = True, first: bool = False) -> None:
        """Hand one VM's write to the writer (its plan, and the pass that made it, are kept until the write is
        accounted for); ``urgent``: it shows a change (the writer runs it before a first publish's backlog);
        ``first``: it tells worse news than the VM's document before (run before every other write)."""
        assert self._submit is not None and w.vm not in self._writes
        future = self._submit(w, urgent, first)
        self._writes[w.vm] = (plan, w, future, owner)
        future.add_done_callback(lambda _: self._ended.set())

    def wait_for(self, morefs: Iterable[str], timeout: float | None = None) -> bool:
        """Give the writes of these VMs up to ``timeout`` seconds to end (a write that is ending anyway, e.g. on
        a vCenter that reconfigures at once, then does not hold its VM's new change for a whole pass); whether
        any was in flight."""
        futures = [self._writes[m][2] for m in morefs if m in self._writes]
        if futures:
            wait(futures, self.ending_wait if timeout is None else timeout)
        return bool(futures)

    def supersede(self, morefs: Iterable[str]) -> int:
        """Take back the writes of these VMs that still wait for a slot (not sent to vCenter yet): the VM changed
        again, so what they would write is stale; the VM is planned again at once with what it shows now, and
        under a storm of flaps a path's failure is not queued behind its own earlier recovery. How many."""
        taken = 0
        for moref in morefs:
            found = self._writes.get(moref)
            if found is not None and found[2].cancel():
                self._superseded.add(moref)
                taken += 1
        return taken

    def hold(self, dirty: Iterable[str]) -> set[str]:
        """``dirty`` without the VMs whose write is in flight (remembered: planned again after it ends), plus
        the VMs held before whose write has ended."""
        out = set()
        for moref in dirty:
            if moref in self._writes:
                self._held.add(moref)
            else:
                out.add(moref)
        released = {m for m in self._held if m not in self._writes}
        self._held -= released
        return out | released

    def ended(self) -> Iterator[tuple[Any, Write, WriteResult, Any]]:
        """``(plan, write, result, owner)`` of every write that has ended, each once; its VM may be planned
        again."""
        self._ended.clear()
        for moref in [m for m, (_, _, f, _) in self._writes.items() if f.done()]:
            plan, w, future, owner = self._writes.pop(moref)
            try:
                res = future.result()
            except CancelledError:
                if moref in self._superseded:
                    self._superseded.discard(moref)
                    res = WriteResult(w, False, SUPERSEDED)
                else:
                    res = WriteResult(w, False, "cancelled: the service stopped before the write was sent")
            except Exception as err:  # noqa: BLE001 - the writer reports failures as results; a bug too
                res = WriteResult(w, False, f"{type(err).__name__}: {err}")
            yield plan, w, res, owner

    def room(self) -> float:
        """How many more writes a pass may hand over now (unbounded when not pipelined)."""
        return self.limit - len(self._writes) if self.pipelined else float("inf")

    def defer(self, morefs: Iterable[str]) -> None:
        """VMs a pass did not get to (no room): planned by a later pass, after what changes meanwhile."""
        self._later.update(morefs)

    @property
    def deferred(self) -> set[str]:
        """The VMs a pass did not get to (planned by a later one)."""
        return self._later

    def take_later(self) -> set[str]:
        later, self._later = self._later, set()
        return later

    def next_look(self, now: float) -> float | None:
        """When the next pass should account for ended writes (0.0, due whatever the caller's clock says, if one
        has ended; soon while any runs) or plan the VMs it did not get to (0.0, when there is room)."""
        if self._later and len(self._writes) < self.limit:
            return 0.0
        if not self._writes:
            return None
        return 0.0 if self._ended.is_set() else now + LOOK_EVERY

    def close(self, cancel: bool = True) -> None:
        """Cancel the writes still waiting for a slot (those running end on their own)."""
        if cancel:
            for _, _, future, _ in self._writes.values():
                future.cancel()
