"""Tables. SQLite (WAL) by default; any SQLAlchemy URL (e.g. PostgreSQL) when a shop outgrows it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    phone: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    address: Mapped[dict] = mapped_column(JSON, default=dict)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    placed_at: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    items: Mapped[list] = mapped_column(JSON, default=list)
    subtotal: Mapped[float] = mapped_column(Float, default=0.0)
    shipping_fee: Mapped[float] = mapped_column(Float, default=0.0)
    total: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    payment_method: Mapped[str] = mapped_column(String(32), default="")
    shipping_address: Mapped[dict] = mapped_column(JSON, default=dict)
    carrier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    shipped_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    delivered_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    returned_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    refunded_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cancelled_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    refund_amount: Mapped[float | None] = mapped_column(Float, nullable=True)


class ReturnRequest(Base):
    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="label_sent")


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    language: Mapped[str] = mapped_column(String(8), default="en")
    handoff: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    # sha256 of the shopper's session token: only its holder reads or writes this conversation.
    owner_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16), default="cli")  # web | api | widget | cli | eval
    assigned_agent: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a human has taken over


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # customer | assistant | agent
    text: Mapped[str] = mapped_column(Text)  # redacted: no e-mails, phones or card numbers
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # thumbs | accepted | edited | rejected | resolved
    value: Mapped[str] = mapped_column(Text, default="")  # "up"/"down", or the text the agent sent
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(64), default="shopper")  # "shopper" or the agent's username
    suggestion: Mapped[str] = mapped_column(Text, default="")  # the suggested reply the agent started from
    meta: Mapped[dict] = mapped_column(JSON, default=dict)  # origin, confidence, rank of the suggestion


class Agent(Base):
    """A support agent's account; the password is stored only as a salted scrypt hash."""

    __tablename__ = "agents"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AgentSession(Base):
    """A signed-in agent: the sha256 of the bearer token, never the token itself."""

    __tablename__ = "agent_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class StoreMeta(Base):
    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VerificationFailure(Base):
    """One failed identity check (an order number with a wrong or unknown e-mail/postcode).

    Counted per order number, conversation and client address over a time window to lock checking
    after a few guesses. The client address is stored only as a salted hash."""

    __tablename__ = "verification_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)  # as typed (normalised), known or not
    client_hash: Mapped[str] = mapped_column(String(64), default="", index=True)


class RateBucket(Base):
    """A token bucket of the request limits (`assistant.rate_limit`), shared by every worker.

    A key with a full bucket has no row; rows idle long enough to have refilled are deleted."""

    __tablename__ = "rate_buckets"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "conversation:…|address:<hash>" etc.
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch (wall clock)
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)  # whether the last request was let through


class ConversationLease(Base):
    """One turn at a time per conversation across workers: the worker running a turn holds the lease
    until it finishes or `expires_at` passes (a crashed worker's lease lapses)."""

    __tablename__ = "conversation_leases"
    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))  # random per acquisition
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch
