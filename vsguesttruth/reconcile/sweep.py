"""The safety net under the incremental passes, spread out: every VM's document checked again, a slice a pass.

The reconcile passes look only at the VMs a change concerns (:mod:`.index`). Every ``[publish] full_interval``
the service checks every VM again anyway, in case a change was missed (a document edited by hand, a bug). At
20,000 VMs that check judges 40,000 disks: seconds during which no new fault reached a guest. A sweep spreads it
over ``spread`` seconds instead, a slice with every pass (at least one a second: :meth:`next_wake`), in moref
order; a VM that left the inventory meanwhile is skipped.
"""

from __future__ import annotations

import math
from typing import Iterable

#: the share of ``full_interval`` a sweep is spread over: nearly all of it, a small steady load (spread over a
#: quarter, the sweep still raised the storm's lag p99 of its minutes by half a second)
SPREAD = 0.9
#: while a sweep runs, the service wakes at least this often (seconds) to take its next slice
EVERY = 1.0


class Sweep:
    """A check of every VM, taken a slice at a time (see the module docstring)."""

    def __init__(self, spread: float) -> None:
        self.spread = max(spread, EVERY)
        self.rounds = 0  # sweeps started
        self._left: list[str] = []  # morefs still to check, in reverse order (taken from the end)
        self._size = 0
        self._started = self._looked = 0.0
        self._taken = 0

    def start(self, morefs: Iterable[str], now: float) -> None:
        """Begin a new sweep of ``morefs`` (what the one before had left is part of it)."""
        self._left = sorted(set(morefs) | set(self._left), reverse=True)
        self._size = len(self._left)
        self._started = self._looked = now
        self._taken = 0
        self.rounds += 1

    @property
    def running(self) -> bool:
        return bool(self._left)

    def take(self, now: float) -> list[str]:
        """The VMs due by ``now``: as many as keep the sweep on pace to end ``spread`` seconds after its start."""
        if not self._left:
            return []
        self._looked = now
        due = math.ceil(self._size * min(1.0, (now - self._started) / self.spread)) - self._taken
        if due <= 0:
            return []
        slice_ = self._left[-due:]
        del self._left[-due:]
        self._taken += len(slice_)
        return slice_

    def next_wake(self) -> float | None:
        """When to look for the next slice (None: no sweep running)."""
        return self._looked + EVERY if self._left else None
