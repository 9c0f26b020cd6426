"""Pause Python's cyclic garbage collector while building many acyclic objects; give freed memory back.

Decoding a large vCenter reply, converting it, and judging 40,000 disks each create millions of small
objects and no reference cycles; the cyclic GC's full collections would rescan the whole growing heap
again and again (measured: a third of the collector's time). Used by the collector, the watch and the truth.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic GC inside the block; restored as found (a no-op when it is already paused)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Settler:
    """Keeps the cyclic GC's work to the objects of the latest few seconds, for a process that lives on a large,
    slowly changing heap (the watch's inventory, its judgements, the pages' views).

    Each new inventory replaces a few objects of millions; left to itself the collector's full collections
    rescan every object that is not frozen, and under a storm of path flaps that was an eighth of the service's
    CPU, in pauses of up to a second and a half. :meth:`settle` (after each inventory) collects, every
    ``freeze_every`` seconds, the young generations (what died since) and moves what is still alive out of the
    collector's sight (``gc.freeze``, constant time). Frozen objects that die later are still freed at once by
    reference counting; only a cycle among them (an operation of another thread in flight at the freeze, finished
    since) waits for the full collection made every ``every`` seconds, taken when the watch has been quiet for
    ``quiet_for`` seconds (a full collection of millions of objects stops everything for about a second: a storm's
    short lulls are no time for it), and at the latest after three times ``every``. Measured under 1,000 flaps a minute (``make soak``): freezing every 30 s
    instead left the collector a tenth of the CPU again (lag p99 4.5 s, not 2.4); after every inventory, the
    writes in flight at each freeze added ~2 MB a minute until the full collection."""

    def __init__(self, every: float = 600.0, freeze_every: float = 1.0, quiet_for: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.freeze_every = freeze_every
        self.quiet_for = quiet_for
        self.clock = clock
        self.full = 0  # full collections made
        self._last = self._frozen = self._busy = clock()

    def settle(self, quiet: bool = False) -> None:
        """After each answer of the watch (``quiet``: it brought no change)."""
        now = self.clock()
        if not quiet:
            self._busy = now
        late = now - self._last
        calm = quiet and now - self._busy >= self.quiet_for
        if late >= self.every and (calm or late >= 3 * self.every):
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.full += 1
            self._last = self._frozen = now
        elif now - self._frozen >= self.freeze_every:
            gc.collect(1)  # the young generations: what died since the last look
            gc.freeze()
            self._frozen = now


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the C allocator's free pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    A resync decodes the whole inventory again and frees nearly all of it (what did not change keeps its old
    object); glibc keeps such freed memory in its arenas unless asked to give it back.
    """
    if _TRIM is not None:
        _TRIM(0)


def limit_arenas(count: int = 2) -> None:
    """Few malloc arenas (glibc ``mallopt(M_ARENA_MAX)``; a no-op elsewhere), before threads start: glibc gives
    each thread that allocates an arena of its own, up to 8 per core, and the service's 64 writers each parsing
    vCenter's answers left memory scattered over all of them (+60 MB of resident size under a storm of flaps)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return
    if mallopt is not None:
        mallopt(-8, count)  # M_ARENA_MAX
