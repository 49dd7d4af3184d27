"""enrollment eligibility: the inclusion inputs typed at enrollment and their computed scores

One row per enrollment (age, the MELD or Child-Pugh labs, the scores), keyed by the enrollment's id and
written in the enrollment's transaction. A new table rather than new columns on ``enrollments``, so the
existing rows and their append-only triggers stay as they are. Insert-only like the rest of the ledger.

Revision ID: safety_0001
Revises: holds_0001
Create Date: 2026-11-22 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "safety_0001"
down_revision: str | None = "holds_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "enrollment_eligibility"


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        TABLE,
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.Column("creatinine_value", sa.String(length=40), nullable=True),
        sa.Column("creatinine_unit", text(length=16), nullable=True),
        sa.Column("bilirubin_value", sa.String(length=40), nullable=True),
        sa.Column("bilirubin_unit", text(length=16), nullable=True),
        sa.Column("inr_value", sa.String(length=40), nullable=True),
        sa.Column("albumin_value", sa.String(length=40), nullable=True),
        sa.Column("albumin_unit", text(length=16), nullable=True),
        sa.Column("ascites", text(length=32), nullable=True),
        sa.Column("encephalopathy", text(length=32), nullable=True),
        sa.Column("meld", sa.String(length=40), nullable=True),
        sa.Column("child_pugh_points", sa.Integer(), nullable=True),
        sa.Column("child_pugh_class", text(length=1), nullable=True),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollments.id"]),
        sa.PrimaryKeyConstraint("enrollment_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {verb} refused'); END"
            )
    else:
        # dosing_append_only() is created by the ledger's revision 0001.
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION dosing_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    op.drop_table(TABLE)
