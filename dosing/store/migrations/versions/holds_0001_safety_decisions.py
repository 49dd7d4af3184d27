"""safety decisions: an investigator's decision that lifts a safety hold (resume or terminate), insert-only

A stopping rule of the protocol puts the study on a safety hold when a cohort is reviewed unsafe; only a
recorded decision naming that review lifts it. Like the other ledger tables, ``safety_decisions``
refuses UPDATE and DELETE in the database itself.

Revision ID: holds_0001
Revises: 0004
Create Date: 2026-11-22 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "holds_0001"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("lifts_review_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(["lifts_review_id"], ["cohort_reviews.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lifts_review_id"),
    )
    with op.batch_alter_table("safety_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_decisions_protocol_id"), ["protocol_id"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER safety_decisions_no_{verb.lower()} BEFORE {verb} ON safety_decisions "
                f"BEGIN SELECT RAISE(ABORT, 'safety_decisions is append-only: {verb} refused'); END"
            )
    else:
        # dosing_append_only() is created by the ledger's revision 0001.
        op.execute(
            "CREATE TRIGGER safety_decisions_append_only BEFORE UPDATE OR DELETE ON safety_decisions "
            "FOR EACH ROW EXECUTE FUNCTION dosing_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS safety_decisions_no_update")
        op.execute("DROP TRIGGER IF EXISTS safety_decisions_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS safety_decisions_append_only ON safety_decisions")
    with op.batch_alter_table("safety_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_decisions_protocol_id"))
    op.drop_table("safety_decisions")
