"""At most one log line per key and period: what a guest can trigger must not flood the service's log.

A guest decides how often its VM's values change, so anything logged per value is logged at its pace. Keyed
by VM, a :class:`RateLog` lets the first line through and drops the rest until ``period`` seconds passed,
then says how many it dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable


class RateLog:
    """``RateLog(logger, period).log(level, key, message, *args)``: one line per ``key`` per ``period``."""

    def __init__(self, logger: logging.Logger, period: float = 600.0, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.period = period
        self.max_keys = max_keys
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key -> (when logged, lines dropped since)

    def log(self, level: int, key: str, message: str, *args: Any) -> bool:
        """Log unless ``key`` logged less than ``period`` ago; True when the line went out."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.period:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is None and len(self._last) >= self.max_keys:
            self._forget(now)
        dropped = last[1] if last is not None else 0
        suffix = f" ({dropped} more like it in the last {self.period:.0f} s not logged)" if dropped else ""
        self.logger.log(level, message + suffix, *args)
        self._last[key] = (now, 0)
        return True

    def _forget(self, now: float) -> None:
        """Drop the keys whose period is over (all of them if none is: the memory stays bounded)."""
        stale = [k for k, (at, _) in self._last.items() if now - at >= self.period]
        for key in stale or list(self._last):
            del self._last[key]
