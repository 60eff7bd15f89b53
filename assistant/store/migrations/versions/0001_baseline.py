"""Baseline: the schema as `create_all` made it before migrations existed.

Revision ID: 0001
Revises:
Created: 2026-11-30

The tables are kept here as they were at this revision (not imported from the models, which move
on), so that a database from before migrations can be completed to exactly this schema and stamped
(`assistant.store.database.migrate`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BASELINE = sa.MetaData()
sa.Table("agent_sessions", BASELINE,
         sa.Column("token_hash", sa.String(64), primary_key=True),
         sa.Column("username", sa.String(64), nullable=False, index=True),
         sa.Column("expires_at", sa.DateTime(), nullable=False))  # fmt: skip
sa.Table("agents", BASELINE,
         sa.Column("username", sa.String(64), primary_key=True),
         sa.Column("password_hash", sa.String(256), nullable=False),
         sa.Column("created_at", sa.DateTime(), nullable=False))  # fmt: skip
sa.Table("conversations", BASELINE,
         sa.Column("id", sa.String(64), primary_key=True),
         sa.Column("created_at", sa.DateTime(), nullable=False),
         sa.Column("updated_at", sa.DateTime(), nullable=False),
         sa.Column("language", sa.String(8), nullable=False, server_default="en"),
         sa.Column("handoff", sa.Boolean(), nullable=False, index=True),
         sa.Column("state", sa.JSON(), nullable=False),
         sa.Column("owner_hash", sa.String(64), nullable=True),
         sa.Column("channel", sa.String(16), nullable=False, server_default="cli"),
         sa.Column("assigned_agent", sa.String(64), nullable=True))  # fmt: skip
sa.Table("customers", BASELINE,
         sa.Column("id", sa.String(32), primary_key=True),
         sa.Column("name", sa.String(200), nullable=False),
         sa.Column("email", sa.String(320), nullable=False, index=True),
         sa.Column("phone", sa.String(64), nullable=False, server_default=""),
         sa.Column("language", sa.String(8), nullable=False, server_default="en"),
         sa.Column("address", sa.JSON(), nullable=False))  # fmt: skip
sa.Table("store_meta", BASELINE,
         sa.Column("key", sa.String(64), primary_key=True),
         sa.Column("value", sa.Text(), nullable=False))  # fmt: skip
sa.Table("verification_failures", BASELINE,
         sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
         sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
         sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
         sa.Column("order_id", sa.String(64), nullable=False, index=True),
         sa.Column("client_hash", sa.String(64), nullable=False, server_default="", index=True))  # fmt: skip
sa.Table("feedback", BASELINE,
         sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
         sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id"), nullable=False, index=True),
         sa.Column("message_id", sa.Integer(), nullable=True),
         sa.Column("kind", sa.String(16), nullable=False),
         sa.Column("value", sa.Text(), nullable=False, server_default=""),
         sa.Column("comment", sa.Text(), nullable=False, server_default=""),
         sa.Column("created_at", sa.DateTime(), nullable=False),
         sa.Column("author", sa.String(64), nullable=False, server_default="shopper"),
         sa.Column("suggestion", sa.Text(), nullable=False, server_default=""),
         sa.Column("meta", sa.JSON(), nullable=False))  # fmt: skip
sa.Table("messages", BASELINE,
         sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
         sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id"), nullable=False, index=True),
         sa.Column("role", sa.String(16), nullable=False),
         sa.Column("text", sa.Text(), nullable=False),
         sa.Column("created_at", sa.DateTime(), nullable=False),
         sa.Column("meta", sa.JSON(), nullable=False))  # fmt: skip
sa.Table("orders", BASELINE,
         sa.Column("id", sa.String(32), primary_key=True),
         sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), nullable=False, index=True),
         sa.Column("email", sa.String(320), nullable=False),
         sa.Column("placed_at", sa.String(32), nullable=False),
         sa.Column("status", sa.String(16), nullable=False),
         sa.Column("items", sa.JSON(), nullable=False),
         sa.Column("subtotal", sa.Float(), nullable=False, server_default="0"),
         sa.Column("shipping_fee", sa.Float(), nullable=False, server_default="0"),
         sa.Column("total", sa.Float(), nullable=False),
         sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
         sa.Column("payment_method", sa.String(32), nullable=False, server_default=""),
         sa.Column("shipping_address", sa.JSON(), nullable=False),
         sa.Column("carrier", sa.String(32), nullable=True),
         sa.Column("tracking_number", sa.String(64), nullable=True),
         sa.Column("shipped_at", sa.String(32), nullable=True),
         sa.Column("delivered_at", sa.String(32), nullable=True),
         sa.Column("returned_at", sa.String(32), nullable=True),
         sa.Column("refunded_at", sa.String(32), nullable=True),
         sa.Column("cancelled_at", sa.String(32), nullable=True),
         sa.Column("refund_amount", sa.Float(), nullable=True))  # fmt: skip
sa.Table("returns", BASELINE,
         sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
         sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.id"), nullable=False, index=True),
         sa.Column("product_id", sa.String(32), nullable=False),
         sa.Column("conversation_id", sa.String(64), nullable=False),
         sa.Column("created_at", sa.DateTime(), nullable=False),
         sa.Column("status", sa.String(16), nullable=False, server_default="label_sent"))  # fmt: skip


def upgrade() -> None:
    BASELINE.create_all(op.get_bind())


def downgrade() -> None:
    BASELINE.drop_all(op.get_bind())
