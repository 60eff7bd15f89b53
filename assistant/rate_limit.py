"""Per-client request limits (token buckets), so one client cannot starve the others.

Two stores with the same behaviour: `SharedRateLimiter` keeps the buckets in the database, so every
worker process spends from the same budget (the default); `RateLimiter` keeps them in this process
(`web.rate_limit_store = "memory"`, for a single process that wants no database write per request).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import case, delete

from assistant.errors import BackendError, RateLimitedError
from assistant.store.models import RateBucket

if TYPE_CHECKING:
    from assistant.store.database import Database


class Limiter(Protocol):
    def check(self, key: str) -> None: ...


class RateLimiter:
    """`per_minute` requests a minute per key, with bursts up to `burst`; thread-safe, in this process.

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


class SharedRateLimiter:
    """The same token bucket, kept in the database's `rate_buckets` table so that all workers share it.

    Each check is one atomic upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, on SQLite and
    PostgreSQL alike): the database refills and spends the bucket in the same statement, so two
    workers checking the same key at once cannot both spend its last token. Keys are stored as a
    salted hash (they contain client addresses). Buckets idle long enough to be full again are
    deleted now and then, so the table holds only recently active clients.
    """

    def __init__(self, db: Database, per_minute: float, *, burst: int = 10, name: str = "") -> None:
        self.db = db
        self.rate_per_s = per_minute / 60.0
        self.burst = max(1, burst)
        self.name = name
        self._salt: str | None = None
        if db.dialect not in ("postgresql", "sqlite"):
            raise BackendError(f"shared rate limits need SQLite or PostgreSQL, not {db.dialect}; "
                               'set web.rate_limit_store = "memory"')  # fmt: skip

    def check(self, key: str) -> None:
        if self.rate_per_s <= 0:
            return
        now = time.time()
        stored = RateBucket.__table__.c
        refilled = stored.tokens + (now - stored.updated_at) * self.rate_per_s
        refilled = case((refilled > self.burst, float(self.burst)), else_=refilled)
        statement = (
            self.db.upsert(RateBucket)
            .values(key=self._hashed(key), tokens=float(self.burst) - 1.0, updated_at=now, allowed=True)
            .on_conflict_do_update(
                index_elements=[stored.key],
                set_={"tokens": case((refilled >= 1.0, refilled - 1.0), else_=refilled),
                      "updated_at": now, "allowed": refilled >= 1.0},
            )
            .returning(stored.tokens, stored.allowed)
        )  # fmt: skip
        with self.db.engine.begin() as connection:
            tokens, allowed = connection.execute(statement).one()
            if random.random() < 0.001:  # now and then: forget buckets that have refilled completely
                full_after_s = self.burst / self.rate_per_s
                connection.execute(delete(RateBucket).where(stored.updated_at < now - full_after_s - 60))
        if not allowed:
            raise RateLimitedError((1.0 - float(tokens)) / self.rate_per_s)

    def _hashed(self, key: str) -> str:
        if self._salt is None:
            from assistant.store.database import install_salt

            self._salt = install_salt(self.db)
        return self.name + ":" + hashlib.sha256(f"{self._salt}:{key}".encode()).hexdigest()[:40]


class ChatLimits:
    """The web's request limits, keyed so that shoppers sharing one address do not share a budget.

    - messages (and hand-offs, ratings): per conversation *and* client address together, so twenty
      shoppers behind one office address each get `per_minute`; a generous cap per address on top
      (`per_address_per_minute`) still stops one machine from driving the server with many conversations;
    - new conversations: per client address;
    - agent sign-in attempts: per client address, always on (whatever the chat limits are set to).
    A limit of 0 turns that limit off (sign-in excepted). With `db`, the buckets live in the database
    and hold across every worker process; without it, in this process.
    """

    def __init__(self, *, per_minute: int, burst: int, per_address_per_minute: int, new_conversations_per_minute: int,
                 sign_in_per_minute: int, db: Database | None = None) -> None:  # fmt: skip
        def limiter(name: str, rate: float, limit_burst: int) -> Limiter:
            if db is None:
                return RateLimiter(rate, burst=limit_burst)
            return SharedRateLimiter(db, rate, burst=limit_burst, name=name)

        self.messages = limiter("message", per_minute, burst)
        self.addresses = limiter("address", per_address_per_minute, max(burst, per_address_per_minute // 4))
        self.new_conversations = limiter("new", new_conversations_per_minute,
                                         max(1, new_conversations_per_minute // 2))  # fmt: skip
        self.sign_in = limiter("sign-in", max(1, sign_in_per_minute), max(5, sign_in_per_minute // 2))

    def message(self, conversation_id: str, client: str) -> None:
        """One message (or hand-off, or rating) in `conversation_id` from `client`."""
        self.addresses.check(f"address:{client}")
        self.messages.check(f"conversation:{conversation_id}|address:{client}")

    def new_conversation(self, client: str) -> None:
        self.new_conversations.check(f"new:{client}")

    def sign_in_attempt(self, client: str) -> None:
        self.sign_in.check(f"sign-in:{client}")
