"""Shared state for several workers: rate-limit buckets and per-conversation turn leases.

Revision ID: 0002
Revises: 0001
Created: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("rate_buckets",
                    sa.Column("key", sa.String(200), primary_key=True),
                    sa.Column("tokens", sa.Float(), nullable=False),
                    sa.Column("updated_at", sa.Float(), nullable=False),
                    sa.Column("allowed", sa.Boolean(), nullable=False))  # fmt: skip
    op.create_index("ix_rate_buckets_updated_at", "rate_buckets", ["updated_at"])
    op.create_table("conversation_leases",
                    sa.Column("conversation_id", sa.String(64), primary_key=True),
                    sa.Column("holder", sa.String(64), nullable=False),
                    sa.Column("expires_at", sa.Float(), nullable=False))  # fmt: skip


def downgrade() -> None:
    op.drop_table("conversation_leases")
    op.drop_index("ix_rate_buckets_updated_at", table_name="rate_buckets")
    op.drop_table("rate_buckets")
