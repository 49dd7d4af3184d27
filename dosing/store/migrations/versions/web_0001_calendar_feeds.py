"""calendar feeds: subscription tokens (hash only) for ward, site and subject calendars

A feed row is a credential: it is revoked by setting ``revoked_at`` once; its creation and revocation
are in the audit log.

Revision ID: web_0001
Revises: safety_0001
Create Date: 2026-11-22 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "web_0001"
down_revision: str | None = "safety_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_calendar_feeds_token_hash", "calendar_feeds", ["token_hash"], unique=True)
    op.create_index("ix_calendar_feeds_account_id", "calendar_feeds", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calendar_feeds_account_id", table_name="calendar_feeds")
    op.drop_index("ix_calendar_feeds_token_hash", table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
