"""A bounded least-recently-used cache whose entries expire, each after its own time to live.

Caches of answers to questions anyone may ask (is this vSphere session id valid?) must stay bounded
without being emptied at once when they fill: a flood of new keys would otherwise evict every good
answer and turn each request into a vCenter round trip. Full, this evicts the expired entries first,
then the least recently used one. ``on_evict(value)`` is called for every value that leaves (expired,
evicted, replaced, cleared), outside the lock: a cached vCenter session is logged out there. Thread-safe;
pure apart from the clock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, TypeVar

V = TypeVar("V")
_MISSING: Any = object()


class TTLCache(Generic[V]):
    """``put(key, value, ttl)``, ``get(key) -> (hit, value)``; at most ``max_entries`` entries."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic,
                 on_evict: Callable[[V], None] | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.clock = clock
        self.on_evict = on_evict
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()  # key -> (expires, value)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        gone: list[V] = []
        try:
            with self._lock:
                found = self._entries.get(key, _MISSING)
                if found is _MISSING:
                    return False, None
                expires, value = found
                if self.clock() >= expires:
                    del self._entries[key]
                    gone.append(value)
                    return False, None
                self._entries.move_to_end(key)
                return True, value
        finally:
            self._evicted(gone)

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        if ttl <= 0:
            self._evicted([value])
            return
        gone: list[V] = []
        with self._lock:
            now = self.clock()
            old = self._entries.get(key, _MISSING)
            if old is not _MISSING and old[1] is not value:
                gone.append(old[1])
            self._entries[key] = (now + ttl, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self.max_entries:
                expired = [k for k, (expires, _) in self._entries.items() if now >= expires]
                for k in expired[: len(self._entries) - self.max_entries] or [next(iter(self._entries))]:
                    gone.append(self._entries.pop(k)[1])
        self._evicted(gone)

    def pop(self, key: Hashable) -> None:
        """Remove one entry (its value is evicted)."""
        with self._lock:
            found = self._entries.pop(key, _MISSING)
        if found is not _MISSING:
            self._evicted([found[1]])

    def expire(self) -> None:
        """Remove every expired entry now (their values are evicted)."""
        with self._lock:
            now = self.clock()
            gone = [k for k, (expires, _) in self._entries.items() if now >= expires]
            values = [self._entries.pop(k)[1] for k in gone]
        self._evicted(values)

    def clear(self) -> None:
        """Remove every entry (their values are evicted)."""
        with self._lock:
            values = [value for _, value in self._entries.values()]
            self._entries.clear()
        self._evicted(values)

    def _evicted(self, values: list[V]) -> None:
        if self.on_evict is not None:
            for value in values:
                self.on_evict(value)
