"""Failed identity checks, counted in the database so that guessing e-mails or postcodes stops early.

An order number with a wrong e-mail or postcode, and an unknown order number, both count as a
failure: per order number (whoever tries it), per conversation and per client address, within a
time window. Once any count reaches its limit the assistant stops checking (`locked_scope` says
which limit), so a script that walks through a shop's postcodes gets a handful of guesses a day
instead of as many as it likes. The counts live in the database, so every worker and every restart
sees the same ones. Client addresses are kept only as a salted hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from assistant.settings import VerificationSettings
from assistant.store.database import Database, install_salt
from assistant.store.models import VerificationFailure, utcnow

LockScope = Literal["order", "conversation", "client"]


def normalise_order_id(order_id: str) -> str:
    """The form order numbers are counted in (as typed, upper case, no surrounding space)."""
    return order_id.strip().upper()[:64]


@dataclass(frozen=True)
class VerificationStatus:
    """What an agent sees of a conversation's identity checks."""

    failures: int  # in this conversation, within the window
    is_locked: bool  # the conversation itself reached its limit
    locked_orders: tuple[str, ...]  # order numbers tried here that reached their limit (from anywhere)
    limit: int  # the conversation's limit, for display


class VerificationLedger:
    """Records failed identity checks and says when a scope has had too many."""

    def __init__(self, db: Database, limits: VerificationSettings | None = None) -> None:
        self.db = db
        self.limits = limits or VerificationSettings()
        self._salt: str | None = None

    def locked_scope(
        self, *, conversation_id: str, order_id: str | None = None, client: str | None = None
    ) -> LockScope | None:
        """Which limit stops a check now: the order's, the conversation's, the client's, or None."""
        checks: list[tuple[LockScope, ColumnElement[bool], int]] = [
            (
                "conversation",
                VerificationFailure.conversation_id == conversation_id,
                self.limits.max_failures_per_conversation,
            )
        ]
        if order_id is not None:
            checks.insert(0, ("order", VerificationFailure.order_id == normalise_order_id(order_id),
                              self.limits.max_failures_per_order))  # fmt: skip
        if client:
            checks.append(("client", VerificationFailure.client_hash == self._client_hash(client),
                           self.limits.max_failures_per_client))  # fmt: skip
        since = self._since()
        with self.db.session() as session:
            for scope, condition, limit in checks:
                if self._count(session, condition, since) >= limit:
                    return scope
        return None

    def record_failure(self, *, conversation_id: str, order_id: str, client: str | None = None) -> None:
        """Count one failed check of `order_id` in `conversation_id` from `client`."""
        with self.db.session() as session:
            session.add(
                VerificationFailure(
                    conversation_id=conversation_id,
                    order_id=normalise_order_id(order_id),
                    client_hash=self._client_hash(client) if client else "",
                )
            )
            session.commit()

    def status(self, conversation_id: str) -> VerificationStatus:
        """The conversation's failures in the window and the order numbers it tried that are locked."""
        since = self._since()
        with self.db.session() as session:
            failures = self._count(session, VerificationFailure.conversation_id == conversation_id, since)
            tried = session.scalars(
                select(VerificationFailure.order_id)
                .where(
                    VerificationFailure.conversation_id == conversation_id,
                    VerificationFailure.created_at >= since,
                )
                .distinct()
            ).all()
            locked = tuple(
                order_id
                for order_id in sorted(tried)
                if self._count(session, VerificationFailure.order_id == order_id, since)
                >= self.limits.max_failures_per_order
            )
        return VerificationStatus(failures, failures >= self.limits.max_failures_per_conversation, locked,
                                  self.limits.max_failures_per_conversation)  # fmt: skip

    def _since(self) -> datetime:
        return utcnow() - timedelta(hours=self.limits.window_hours)

    @staticmethod
    def _count(session: Session, condition: ColumnElement[bool], since: datetime) -> int:
        return int(
            session.scalar(
                select(func.count(VerificationFailure.id)).where(
                    condition, VerificationFailure.created_at >= since
                )
            )
            or 0
        )

    def _client_hash(self, client: str) -> str:
        return hashlib.sha256(f"{self._install_salt()}:{client}".encode()).hexdigest()

    def _install_salt(self) -> str:
        if self._salt is None:
            self._salt = install_salt(self.db)
        return self._salt
