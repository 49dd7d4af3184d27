"""pharmacy custody: stock movements per lot container, lot status changes, thaws, bags and their events

Five insert-only record tables (UPDATE, DELETE, INSERT OR REPLACE and TRUNCATE refused in the database
itself, as for the ledger); every row is written with an audit entry (``COVERED_TABLES``).

Revision ID: custody_0001
Revises: web_0001
Create Date: 2026-11-22 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "custody_0001"
down_revision: str | None = "web_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ["stock_movements", "lot_status_changes", "container_thaws", "preparations", "preparation_events"]


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _moment() -> sqlmodel.sql.sqltypes.UTCDateTime:
    return sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "preparations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bag_id", _text(32), nullable=False),
        sa.Column("protocol_id", _text(64), nullable=False),
        sa.Column("subject_code", _text(64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=True),
        sa.Column("container", sa.Integer(), nullable=True),
        sa.Column("placebo", sa.Boolean(), nullable=False),
        sa.Column("volume_to_draw_ml", sa.String(length=40), nullable=False),
        sa.Column("final_volume_ml", sa.String(length=40), nullable=False),
        sa.Column("use_by", _moment(), nullable=False),
        sa.Column("worksheet", sa.JSON(), nullable=False),
        sa.Column("prepared_at", _moment(), nullable=False),
        sa.Column("prepared_by", _text(128), nullable=False),
        sa.Column("prepared_by_name", _text(200), nullable=False),
    )
    op.create_index("ix_preparations_bag_id", "preparations", ["bag_id"], unique=True)
    op.create_index("ix_preparations_subject_code", "preparations", ["subject_code"])
    op.create_table(
        "preparation_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("preparation_id", sa.Integer(), sa.ForeignKey("preparations.id"), nullable=False),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("at", _moment(), nullable=False),
        sa.Column("by", _text(128), nullable=False),
        sa.Column("by_name", _text(200), nullable=False),
        sa.Column("reason", _text(500), nullable=True),
        sa.Column("drawn_volume_ml", sa.String(length=40), nullable=True),
        sa.Column("scanned_lot", _text(64), nullable=True),
        sa.Column(
            "administration_event_id", sa.Integer(), sa.ForeignKey("administration_events.id"), nullable=True
        ),
    )
    op.create_index("ix_preparation_events_preparation_id", "preparation_events", ["preparation_id"])
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("container", sa.Integer(), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("volume_ml", sa.String(length=40), nullable=False),
        sa.Column("preparation_id", sa.Integer(), sa.ForeignKey("preparations.id"), nullable=True),
        sa.Column("at", _moment(), nullable=False),
        sa.Column("by", _text(128), nullable=False),
        sa.Column("reason", _text(500), nullable=True),
    )
    op.create_index("ix_stock_movements_lot_id", "stock_movements", ["lot_id"])
    op.create_index("ix_stock_movements_preparation_id", "stock_movements", ["preparation_id"])
    op.create_table(
        "lot_status_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("reason", _text(500), nullable=False),
        sa.Column("at", _moment(), nullable=False),
        sa.Column("by", _text(128), nullable=False),
    )
    op.create_index("ix_lot_status_changes_lot_id", "lot_status_changes", ["lot_id"])
    op.create_table(
        "container_thaws",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("container", sa.Integer(), nullable=False),
        sa.Column("thawed_at", _moment(), nullable=False),
        sa.Column("use_by", _moment(), nullable=False),
        sa.Column("by", _text(128), nullable=False),
        sa.UniqueConstraint("lot_id", "container", name="uq_container_thaws_container"),
    )
    op.create_index("ix_container_thaws_lot_id", "container_thaws", ["lot_id"])
    _append_only()


def _append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                f"WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: REPLACE refused'); END"
            )
        return
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION dosing_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION dosing_append_only()"
        )


def downgrade() -> None:
    # Dropping a table drops its triggers on both databases.
    for table in reversed(TABLES):
        op.drop_table(table)
