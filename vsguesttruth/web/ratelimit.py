"""Rate limits for what an anonymous caller can make the plugin server do: validating a vSphere session.

A request carrying an unknown ``vmware-api-session-id`` costs a vCenter round trip (``SessionManager``
asked with that session). Random ids are free to send, so such validations are rate-limited per client
address and in total (token buckets); answers already cached cost nothing and are never limited.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

from vsguesttruth.ttlcache import TTLCache

PER_CLIENT = (20, 2.0)  # burst, validations per second, per client address
OVERALL = (60, 10.0)  # burst, validations per second, all clients together
_CLIENTS = 10_000  # client addresses remembered


class RateLimited(Exception):
    """Too many session validations; ``retry_after`` seconds until the next one is allowed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; ``take()`` is 0 when a token was taken, else the
    seconds until one is there."""

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst, self.rate = float(burst), rate
        self.tokens, self.at = float(burst), now

    def take(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class ValidationLimiter:
    """Session validations allowed per client address and overall; :meth:`take` raises RateLimited."""

    def __init__(self, per_client: tuple[int, float] = PER_CLIENT, overall: tuple[int, float] = OVERALL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_client = per_client
        self.clock = clock
        self._overall = TokenBucket(*overall, clock())
        self._clients: TTLCache[TokenBucket] = TTLCache(_CLIENTS, clock)
        self._lock = threading.Lock()
        #: validations refused (the web app exports it as a metric)
        self.refused = 0

    def take(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            hit, bucket = self._clients.get(client)
            if not hit or bucket is None:
                bucket = TokenBucket(*self.per_client, now)
            # an idle client's bucket is full again after burst/rate seconds: forget it then
            self._clients.put(client, bucket, self.per_client[0] / self.per_client[1] + 1.0)
            wait = bucket.take(now)
            if wait:
                self.refused += 1
                raise RateLimited(f"too many vSphere session checks from {client or 'this client'}; "
                                  f"retry in {math.ceil(wait)} s", math.ceil(wait))
            wait = self._overall.take(now)
            if wait:
                bucket.tokens += 1.0  # not this client's fault: give its token back
                self.refused += 1
                raise RateLimited(f"too many vSphere session checks; retry in {math.ceil(wait)} s", math.ceil(wait))
