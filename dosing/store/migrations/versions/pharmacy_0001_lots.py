"""pharmacy lots: registered product lots (lot number or ISBT 128 DIN), insert-only

Chained after the ledger's initial schema. Like the ledger's tables, ``lots`` refuses UPDATE and DELETE
in the database itself: a lot registered with the wrong figures is not rewritten (worksheets printed from
it must stay explainable).

Revision ID: pharmacy_0001
Revises: 0001
Create Date: 2026-11-22 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "pharmacy_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("product", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("lot_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("din", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("check_character", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True),
        sa.Column("concentration_value", sa.String(length=40), nullable=False),
        sa.Column("concentration_unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("viability_percent", sa.String(length=40), nullable=True),
        sa.Column("volume_ml", sa.String(length=40), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("registered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("registered_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lots_identifier"), ["identifier"], unique=True)
        batch_op.create_index(batch_op.f("ix_lots_product"), ["product"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER lots_no_{verb.lower()} BEFORE {verb} ON lots "
                f"BEGIN SELECT RAISE(ABORT, 'lots is append-only: {verb} refused'); END"
            )
    else:
        # dosing_append_only() is created by the ledger's revision 0001.
        op.execute(
            "CREATE TRIGGER lots_append_only BEFORE UPDATE OR DELETE ON lots "
            "FOR EACH ROW EXECUTE FUNCTION dosing_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS lots_no_update")
        op.execute("DROP TRIGGER IF EXISTS lots_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS lots_append_only ON lots")
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lots_product"))
        batch_op.drop_index(batch_op.f("ix_lots_identifier"))
    op.drop_table("lots")
