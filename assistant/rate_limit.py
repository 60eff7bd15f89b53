"""Per-client request limits (token buckets), so one client cannot starve the others."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from assistant.errors import RateLimitedError


class RateLimiter:
    """`per_minute` requests a minute per key, with bursts up to `burst`; thread-safe.

    Keys are client addresses or session ids. At most `max_keys` buckets are kept (the least
    recently used are dropped), so a flood of new keys cannot exhaust memory.
    """

    def __init__(self, per_minute: float, *, burst: int = 10, max_keys: int = 100_000) -> None:
        self.rate_per_s = per_minute / 60.0
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last seen)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Spend one request for `key`; `RateLimitedError` (with the wait) when none are left."""
        if self.rate_per_s <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, seen = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - seen) * self.rate_per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimitedError((1.0 - tokens) / self.rate_per_s)
            self._buckets[key] = (tokens - 1.0, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
