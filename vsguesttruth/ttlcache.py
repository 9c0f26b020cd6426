"""A bounded least-recently-used cache whose entries expire, each after its own time to live.

Caches of answers to questions anyone may ask (is this vSphere session id valid?) must stay bounded
without being emptied at once when they fill: a flood of new keys would otherwise evict every good
answer and turn each request into a vCenter round trip. Full, this evicts the expired entries first,
then the least recently used one. Thread-safe; pure apart from the clock.
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

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()  # key -> (expires, value)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        with self._lock:
            found = self._entries.get(key, _MISSING)
            if found is _MISSING:
                return False, None
            expires, value = found
            if self.clock() >= expires:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            now = self.clock()
            self._entries[key] = (now + ttl, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self.max_entries:
                expired = [k for k, (expires, _) in self._entries.items() if now >= expires]
                for k in expired[: len(self._entries) - self.max_entries] or [next(iter(self._entries))]:
                    del self._entries[k]
