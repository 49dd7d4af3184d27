"""initial ledger schema: subjects, enrollments, planned doses and assessments, events, reviews, audit

Every ledger table is append-only, enforced by the database itself (triggers refuse UPDATE and DELETE),
so no code path, script or console session can rewrite what was recorded.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:58:07.527718
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = [
    "subjects",
    "enrollments",
    "planned_administrations",
    "planned_assessments",
    "administration_events",
    "cohort_reviews",
    "audit_log",
]


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION dosing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION dosing_append_only()"
        )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        return
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS dosing_append_only()")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("protocol_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("subject_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("missed_planned_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("missed_planned_id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_subject_at", ["subject_code", "at"], unique=False)

    op.create_table(
        "cohort_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cohort", sa.Integer(), nullable=False),
        sa.Column("arm", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("safe", sa.Boolean(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cohort_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cohort_reviews_protocol_id"), ["protocol_id"], unique=False)

    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("protocol_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subjects_code"), ["code"], unique=True)
        batch_op.create_index(batch_op.f("ix_subjects_protocol_id"), ["protocol_id"], unique=False)

    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("arm", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("arm_role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("dose_level", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("cohort", sa.Integer(), nullable=True),
        sa.Column("cohort_position", sa.Integer(), nullable=True),
        sa.Column("randomization_number", sa.Integer(), nullable=True),
        sa.Column("allocation_overridden", sa.Boolean(), nullable=False),
        sa.Column("weight_kg", sa.String(length=40), nullable=False),
        sa.Column("weight_measured_on", sa.Date(), nullable=True),
        sa.Column("anchor_date", sa.Date(), nullable=False),
        sa.Column("site", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("enrolled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("enrolled_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "protocol_id", "cohort", "cohort_position", name="uq_enrollments_cohort_position"
        ),
        sa.UniqueConstraint("protocol_id", "randomization_number", name="uq_enrollments_randomization"),
        sa.UniqueConstraint("subject_id"),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollments_site"), ["site"], unique=False)

    op.create_table(
        "planned_administrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("study_day", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("earliest", sa.Date(), nullable=False),
        sa.Column("latest", sa.Date(), nullable=False),
        sa.Column("planned_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("intervention", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("dose_per_kg", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ordered_dose_value", sa.String(length=40), nullable=True),
        sa.Column("ordered_dose_unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("final_volume_ml", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "sequence", name="uq_planned_administrations_sequence"),
    )
    with op.batch_alter_table("planned_administrations", schema=None) as batch_op:
        batch_op.create_index("ix_planned_administrations_latest", ["latest"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_planned_administrations_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "planned_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("due", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("after", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("offset_months", sa.Integer(), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("offset_hours", sa.Integer(), nullable=False),
        sa.Column("offset_text", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("measures", sa.JSON(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("administration_sequence", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "key", name="uq_planned_assessments_key"),
    )
    with op.batch_alter_table("planned_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_planned_assessments_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "administration_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("planned_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("corrected_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("local_date", sa.Date(), nullable=True),
        sa.Column("window_latest", sa.Date(), nullable=True),
        sa.Column("amount_value", sa.String(length=40), nullable=True),
        sa.Column("amount_unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("volume_ml", sa.String(length=40), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("lot", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("din", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("given_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("infusion_reaction", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("new_target", sa.Date(), nullable=True),
        sa.Column("new_earliest", sa.Date(), nullable=True),
        sa.Column("new_latest", sa.Date(), nullable=True),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["administration_events.id"],
        ),
        sa.ForeignKeyConstraint(
            ["planned_id"],
            ["planned_administrations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("corrects_id", name="uq_administration_events_corrects"),
        sa.UniqueConstraint("planned_id", "slot", name="uq_administration_events_outcome_slot"),
    )
    with op.batch_alter_table("administration_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_administration_events_changes",
            ["planned_id"],
            unique=False,
            sqlite_where=sa.text("kind IN ('correction', 'reschedule')"),
            postgresql_where=sa.text("kind IN ('correction', 'reschedule')"),
        )
        batch_op.create_index(
            "ix_administration_events_late",
            ["planned_id"],
            unique=False,
            sqlite_where=sa.text("local_date > window_latest"),
            postgresql_where=sa.text("local_date > window_latest"),
        )
        batch_op.create_index(batch_op.f("ix_administration_events_subject_id"), ["subject_id"], unique=False)

    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table("administration_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_administration_events_subject_id"))
        batch_op.drop_index(
            "ix_administration_events_late",
            sqlite_where=sa.text("local_date > window_latest"),
            postgresql_where=sa.text("local_date > window_latest"),
        )
        batch_op.drop_index(
            "ix_administration_events_changes",
            sqlite_where=sa.text("kind IN ('correction', 'reschedule')"),
            postgresql_where=sa.text("kind IN ('correction', 'reschedule')"),
        )

    op.drop_table("administration_events")
    with op.batch_alter_table("planned_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planned_assessments_subject_id"))

    op.drop_table("planned_assessments")
    with op.batch_alter_table("planned_administrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planned_administrations_subject_id"))
        batch_op.drop_index("ix_planned_administrations_latest")

    op.drop_table("planned_administrations")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollments_site"))

    op.drop_table("enrollments")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjects_protocol_id"))
        batch_op.drop_index(batch_op.f("ix_subjects_code"))

    op.drop_table("subjects")
    with op.batch_alter_table("cohort_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohort_reviews_protocol_id"))

    op.drop_table("cohort_reviews")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject_at")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
