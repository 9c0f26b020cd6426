"""A monotonic clock the test moves by hand (the reconciler's and the remediation's ``clock``)."""

from __future__ import annotations


class Clock:
    """``tick``: seconds every reading adds, as a real monotonic clock moves on between two readings."""

    def __init__(self, now: float = 1000.0, tick: float = 0.0) -> None:
        self.now = now
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
