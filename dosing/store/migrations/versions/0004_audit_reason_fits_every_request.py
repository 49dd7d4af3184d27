"""audit log: reason up to 2000 characters, the longest free text a request may carry

A cohort review's notes (up to 2000 characters) are the audit entry's reason; a 500-character column
refused a long review note on PostgreSQL while SQLite stored it. Widening a VARCHAR on PostgreSQL
changes the catalogue only (no rewrite, the append-only triggers stay). SQLite does not enforce
VARCHAR lengths, so there is nothing to change there (and a batch rebuild would drop the triggers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_log", "reason", type_=sa.String(length=2000), existing_type=sa.String(length=500)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Refused by PostgreSQL while a longer reason is stored: nothing in the ledger is cut short.
        op.alter_column(
            "audit_log", "reason", type_=sa.String(length=500), existing_type=sa.String(length=2000)
        )
