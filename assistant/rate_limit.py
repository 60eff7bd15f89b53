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


class ChatLimits:
    """The web's request limits, keyed so that shoppers sharing one address do not share a budget.

    - messages (and hand-offs, ratings): per conversation *and* client address together, so twenty
      shoppers behind one office address each get `per_minute`; a generous cap per address on top
      (`per_address_per_minute`) still stops one machine from driving the server with many conversations;
    - new conversations: per client address;
    - agent sign-in attempts: per client address, always on (whatever the chat limits are set to).
    A limit of 0 turns that limit off (sign-in excepted).
    """

    def __init__(self, *, per_minute: int, burst: int, per_address_per_minute: int, new_conversations_per_minute: int,
                 sign_in_per_minute: int) -> None:  # fmt: skip
        self.messages = RateLimiter(per_minute, burst=burst)
        self.addresses = RateLimiter(per_address_per_minute, burst=max(burst, per_address_per_minute // 4))
        self.new_conversations = RateLimiter(new_conversations_per_minute,
                                             burst=max(1, new_conversations_per_minute // 2))  # fmt: skip
        self.sign_in = RateLimiter(max(1, sign_in_per_minute), burst=max(5, sign_in_per_minute // 2))

    def message(self, conversation_id: str, client: str) -> None:
        """One message (or hand-off, or rating) in `conversation_id` from `client`."""
        self.addresses.check(f"address:{client}")
        self.messages.check(f"conversation:{conversation_id}|address:{client}")

    def new_conversation(self, client: str) -> None:
        self.new_conversations.check(f"new:{client}")

    def sign_in_attempt(self, client: str) -> None:
        self.sign_in.check(f"sign-in:{client}")
