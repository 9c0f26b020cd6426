"""Pause Python's cyclic garbage collector while building many acyclic objects; give freed memory back.

Decoding a large vCenter reply, converting it, and judging 40,000 disks each create millions of small
objects and no reference cycles; the cyclic GC's full collections would rescan the whole growing heap
again and again (measured: a third of the collector's time). Used by the collector, the watch and the truth.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from contextlib import contextmanager
from typing import Iterator


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
