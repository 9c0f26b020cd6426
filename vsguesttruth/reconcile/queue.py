"""The work that comes due with time rather than with a change (client-go's delaying, rate-limited queue).

A VM is due again when its host's storage should be re-probed (the guest's refresh interval), when an
interval policy's window opens, when a re-probe a guest asked for has been seen by the watch, when a write
that failed has backed off (5 s doubling, up to 5 minutes), when a held policy change or a calm restore of
our document is allowed, when a request over the rate limit is to be refused, when remediation answered
one of its requests (answered from any thread: :meth:`WorkQueue.answer_later`), or right after a pass wrote
such an answer (:meth:`WorkQueue.again`: the guest may have written a new request meanwhile, and the
response key holds one answer at a time).
:meth:`WorkQueue.next_wake` tells the service loop how long it may wait for vCenter before a pass is due
anyway: an answer waiting is due at once, whatever the caller's clock says.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Mapping

from .state import VmState

#: an answer remediation gave later: (request id, action, status, message)
LateAnswer = tuple[str, str, str, str]


class WorkQueue:
    """Timers of the VMs that have one, and answers waiting for their VM's next pass.

    ``states`` is the reconciler's per-VM memory (read, never changed here except the backoff);
    ``settle``: seconds the watch needs to show a change; ``min_refresh``: the guest bound of ``[guest]``.
    """

    def __init__(self, states: Mapping[str, VmState], settle: float, min_refresh: float,
                 clock: Callable[[], float]) -> None:
        self.states = states
        self.settle = settle
        self.min_refresh = min_refresh
        self.clock = clock
        self.timed: set[str] = set()  # VMs with a timer (refresh, window, pending, backoff, held policy, restore)
        self._late: dict[str, list[LateAnswer]] = {}
        self._again: set[str] = set()  # VMs whose request key is looked at again in the next pass
        self._lock = threading.Lock()  # guards _late (remediation may answer from another thread)

    # -- answers given later ------------------------------------------------------------------------

    def answer_later(self, vm: str, answer: LateAnswer) -> None:
        with self._lock:
            self._late.setdefault(vm, []).append(answer)

    def take_answers(self, vm: str) -> list[LateAnswer]:
        """The answers waiting for ``vm`` (the last one is written); they leave the queue."""
        with self._lock:
            return self._late.pop(vm, [])

    def requeue(self, vm: str, answers: list[LateAnswer]) -> None:
        """Answers whose write failed: due again, before any that came meanwhile."""
        with self._lock:
            self._late[vm] = answers + self._late.get(vm, [])

    def again(self, vm: str) -> None:
        """Look at the VM again in the next pass (its request key, after a pass that wrote a late answer)."""
        self._again.add(vm)

    def drop_answers(self, vms: Iterable[str]) -> None:
        """Answers for VMs no pass will look at (out of scope, gone): nobody is there to read them."""
        with self._lock:
            for vm in vms:
                self._late.pop(vm, None)

    # -- timers -------------------------------------------------------------------------------------

    def next_wake(self, in_scope: set[str]) -> float | None:
        """The monotonic time the next timer is due (None: none), in the caller's ``now``; 0.0 (due whatever
        the caller's clock says) when an answer waits for a VM that is not backing off after a failed write."""
        with self._lock:
            waiting = set(self._late) | self._again
        times = []
        for moref in waiting:
            st = self.states.get(moref)
            until = st.timers.failed_until if st is not None else None
            times.append(0.0 if until is None else until)
        for moref in self.timed:
            st = self.states.get(moref)
            if st is None:
                continue
            timers = st.timers
            times.extend(t for t in (timers.next_refresh, timers.failed_until, timers.request_at, st.keys.restore_at)
                         if t is not None)
            if timers.window is not None and moref in in_scope and st.policy.interval:
                times.append(timers.window + self.settle)
            if st.pending is not None and st.pending.probed is not None:
                times.append(st.pending.probed + self.settle)
            if st.policy.held:
                times.append(st.policy.at + self.min_refresh)
        return min(times, default=None)

    def due(self, now: float, as_of: float) -> set[str]:
        """The VMs due a look now (``as_of``: how far the inventory is known to be current)."""
        with self._lock:
            due = set(self._late) | self._again
        self._again.clear()
        for moref in list(self.timed):
            st = self.states.get(moref)
            if st is None:
                self.timed.discard(moref)
                continue
            timers = st.timers
            if ((timers.next_refresh is not None and now >= timers.next_refresh)
                    or (timers.failed_until is not None and now >= timers.failed_until)
                    or (timers.request_at is not None and now >= timers.request_at)
                    or (st.keys.restore_at is not None and now >= st.keys.restore_at)
                    or (timers.window is not None and as_of >= timers.window and st.policy.interval)
                    or (st.pending is not None and st.pending.probed is not None and as_of >= st.pending.probed)
                    or (st.policy.held and now >= st.policy.at + self.min_refresh)):
                due.add(moref)
        return due

    def retime(self, moref: str) -> None:
        """Keep (or drop) the VM among the timed ones after a pass changed its memory."""
        st = self.states.get(moref)
        if st is None:
            return
        timers = st.timers
        if (timers.next_refresh is not None or timers.failed_until is not None or st.pending is not None
                or timers.request_at is not None or st.keys.restore_at is not None
                or st.policy.held or (timers.window is not None and st.policy.interval)):
            self.timed.add(moref)
        else:
            self.timed.discard(moref)

    # -- backoff ------------------------------------------------------------------------------------

    def failed(self, moref: str, now: float) -> None:
        """A write to the VM failed: try again after 5 s, doubling with each failure in a row, up to 5 min."""
        timers = self.states[moref].timers
        timers.failures += 1
        timers.failed_until = now + min(300.0, 5.0 * 2 ** (timers.failures - 1))
        self.timed.add(moref)

    def succeeded(self, moref: str) -> None:
        timers = self.states[moref].timers
        timers.failures, timers.failed_until = 0, None

    def forget(self, moref: str) -> None:
        self.timed.discard(moref)
        self._again.discard(moref)
        self.drop_answers((moref,))
