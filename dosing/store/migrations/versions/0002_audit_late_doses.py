"""audit log: late_planned_id, so the sweep writes each dose given late to the audit log once

The sweep reports a dose given after its window closed once, as it reports a missed dose once: the
unique index on ``late_planned_id`` keeps a second report (a rerun, or two sweeps at once) out. The
column is nullable and added in place (no table rebuild), so the append-only triggers stay as they are.

Revision ID: 0002
Revises: pharmacy_0001
Create Date: 2026-11-22 02:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "pharmacy_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("late_planned_id", sa.Integer(), nullable=True))
    op.create_index("ix_audit_log_late_planned_id", "audit_log", ["late_planned_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_audit_log_late_planned_id", table_name="audit_log")
    # SQLite (3.35+) drops a plain column in place; PostgreSQL always does.
    op.drop_column("audit_log", "late_planned_id")
