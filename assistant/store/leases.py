"""One turn at a time per conversation, across worker processes.

Two tabs of one conversation may reach two workers; without a shared lease both would load the same
state, run a turn each and the later write would drop the earlier turn's state. The lease is a row
in `conversation_leases`, taken with one atomic upsert that succeeds only when no unexpired lease
exists (SQLite and PostgreSQL alike), and deleted when the turn ends. A worker that dies mid-turn
leaves a lease that lapses after `ttl_s`.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator

from sqlalchemy import delete

from assistant.errors import RateLimitedError
from assistant.store.database import Database
from assistant.store.models import ConversationLease


class ConversationBusyError(RateLimitedError):
    """Another message of this conversation is still being answered (by this or another worker)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(retry_after_s)
        self.args = ("the previous message in this conversation is still being answered: "
                     f"try again in {max(1, round(retry_after_s))} s",)  # fmt: skip


class ConversationLeases:
    """`hold(conversation_id)`: waits up to `wait_s` for the conversation's lease, holds it for the block."""

    def __init__(
        self, db: Database, *, ttl_s: float = 300.0, wait_s: float = 60.0, poll_s: float = 0.05
    ) -> None:
        self.db, self.ttl_s, self.wait_s, self.poll_s = db, ttl_s, wait_s, poll_s

    @contextlib.contextmanager
    def hold(self, conversation_id: str) -> Iterator[None]:
        holder = secrets.token_hex(16)
        deadline = time.monotonic() + self.wait_s
        while not self._try_acquire(conversation_id, holder):
            if time.monotonic() >= deadline:
                raise ConversationBusyError(2.0)
            time.sleep(self.poll_s)
        try:
            yield
        finally:
            with self.db.engine.begin() as connection:
                connection.execute(delete(ConversationLease).where(
                    ConversationLease.conversation_id == conversation_id, ConversationLease.holder == holder))  # fmt: skip

    def _try_acquire(self, conversation_id: str, holder: str) -> bool:
        now = time.time()
        stored = ConversationLease.__table__.c
        statement = (
            self.db.upsert(ConversationLease)
            .values(conversation_id=conversation_id, holder=holder, expires_at=now + self.ttl_s)
            .on_conflict_do_update(
                index_elements=[stored.conversation_id],
                set_={"holder": holder, "expires_at": now + self.ttl_s},
                where=stored.expires_at < now,
            )
            .returning(stored.holder)
        )
        with self.db.engine.begin() as connection:
            row = connection.execute(statement).first()
        return row is not None and row[0] == holder
