"""When to read what guests write into their data sets: VM data sets have no change notification. Pure.

Each VM on data sets is read once at first sight (with its other data set); after that its guest data set
(``vsguesttruth-guest``: policy, request) is read again only when one of these asks, whichever comes first:

- its policy's ``poll_interval`` (the guest says how soon it wants its requests seen);
- its request window: for ``request_window`` seconds after a new request or policy was read, every
  ``window_every`` seconds (``[guest] min_refresh_interval``): requests come in bursts (``--wait``, a
  follow-up), and a guest whose answer is pending is listened to;
- the sweep, every ``sweep`` seconds (0: never), so a guest without a policy is heard at all.

All reads share one budget, ``budget`` Automation API calls a second (a token bucket one second deep): due
VMs are read earliest first while tokens last, a read costs what it called, and a VM waits when the budget is
spent; :attr:`PollSchedule.lag` says how late the latest read was.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Vm:
    interval: float = 0.0  # its policy's poll_interval (0: none)
    window_until: float = 0.0  # polled every window_every until then
    last: float = 0.0  # when it was read last
    due: float = 0.0


class PollSchedule:
    """Due times of the VMs' guest data set reads, and the shared budget."""

    def __init__(self, budget: float, *, sweep: float = 3600.0, window: float = 300.0, window_every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = float(budget)
        self.sweep = float(sweep)
        self.window = float(window)
        self.window_every = float(window_every)
        self.clock = clock
        self.tokens = self.budget
        self._at = clock()
        self._vms: dict[str, _Vm] = {}
        self._heap: list[tuple[float, str]] = []
        #: seconds the latest read ran after it was due (the budget's cost to guests)
        self.lag = 0.0
        self.reads = 0
        self.calls = 0

    def __len__(self) -> int:
        return len(self._vms)

    def __contains__(self, vm: str) -> bool:
        return vm in self._vms

    # -- what is known of each VM -------------------------------------------------------------------

    def read(self, vm: str, now: float, calls: int = 0, *, interval: float | None = None, news: bool = False) -> None:
        """The VM's guest data set was read at ``now`` (``calls`` made, charged to the budget); ``interval``: its
        policy's poll_interval now; ``news``: a new request or policy was seen (opens its request window)."""
        state = self._vms.get(vm)
        if state is None:
            state = self._vms[vm] = _Vm()
        else:
            self.lag = max(0.0, now - state.due)
            self.reads += 1
        if interval is not None:
            state.interval = float(interval)
        if news and self.window > 0:
            state.window_until = now + self.window
        state.last = now
        self._charge(now, calls)
        self._schedule(vm, state)

    def listen(self, vm: str, now: float) -> None:
        """Open the VM's request window now (an answer of ours is pending: its next request comes soon)."""
        state = self._vms.get(vm)
        if state is not None and self.window > 0:
            state.window_until = now + self.window
            self._schedule(vm, state)

    def forget(self, vm: str) -> None:
        self._vms.pop(vm, None)  # its heap entries are skipped when they come up

    # -- the budget ---------------------------------------------------------------------------------

    def _charge(self, now: float, calls: int) -> None:
        self._refill(now)
        self.tokens -= calls
        self.calls += calls

    def _refill(self, now: float) -> None:
        self.tokens = min(self.budget, self.tokens + (now - self._at) * self.budget)
        self._at = now

    # -- when ---------------------------------------------------------------------------------------

    def _schedule(self, vm: str, state: _Vm) -> None:
        candidates = []
        if state.interval > 0:
            candidates.append(state.last + state.interval)
        if state.window_until > state.last:
            candidates.append(min(state.last + self.window_every, state.window_until))
        if self.sweep > 0:
            candidates.append(state.last + self.sweep)
        state.due = min(candidates) if candidates else float("inf")
        if state.due != float("inf"):
            heapq.heappush(self._heap, (state.due, vm))

    def _peek(self) -> tuple[float, str] | None:
        while self._heap:
            due, vm = self._heap[0]
            state = self._vms.get(vm)
            if state is not None and state.due == due:
                return due, vm
            heapq.heappop(self._heap)  # forgotten, or rescheduled since
        return None

    def due(self, now: float, limit: int | None = None) -> list[str]:
        """The VMs to read now, earliest due first: as many as the budget has whole tokens for (a read costs
        at least one call), at most ``limit``. They stay due until :meth:`read` is called for them."""
        self._refill(now)
        out: list[str] = []
        popped: list[tuple[float, str]] = []
        room = int(self.tokens)
        while room > 0 and (limit is None or len(out) < limit):
            top = self._peek()
            if top is None or top[0] > now:
                break
            popped.append(heapq.heappop(self._heap))
            out.append(top[1])
            room -= 1
        for entry in popped:  # they stay due until read
            heapq.heappush(self._heap, entry)
        return out

    def next_wake(self, now: float | None = None) -> float | None:
        """When a read is due next (later when the budget is spent); None: nothing scheduled."""
        top = self._peek()
        if top is None:
            return None
        now = self.clock() if now is None else now
        self._refill(now)
        if self.tokens >= 1.0:
            return top[0]
        return max(top[0], now + (1.0 - self.tokens) / self.budget)
