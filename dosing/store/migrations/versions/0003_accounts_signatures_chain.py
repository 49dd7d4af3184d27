"""accounts, login sessions, electronic signatures; the audit log becomes a hash chain

- ``accounts``, ``login_sessions`` and ``signatures`` (insert-only) are created.
- ``audit_log`` gains ``row_refs``/``row_hash`` (the ledger rows an entry wrote and their digest),
  ``signature_id``, and the chain links ``prev_hash`` (unique) and ``entry_hash``. Every existing entry
  is hashed in id order, and when the store already held records, one ``chain_started`` entry seals
  every older ledger row of each table with a digest: nothing is dropped or rewritten but the new
  columns of the audit log, filled once here.
- Subject codes become unique without regard to case (an expression index on ``lower(code)``).
- Append-only is made deeper: on SQLite an INSERT that would replace an existing row (``INSERT OR
  REPLACE``) is refused like UPDATE and DELETE; on PostgreSQL ``TRUNCATE`` is refused.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:40:00
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = [
    "subjects", "enrollments", "planned_administrations", "planned_assessments", "administration_events",
    "cohort_reviews", "audit_log", "lots", "signatures",
]  # fmt: skip
SEALED = [name for name in APPEND_ONLY if name not in ("audit_log", "signatures")]
GENESIS = "0" * 64
ENTRY_FIELDS = (
    "at", "actor", "action", "protocol_id", "subject_code", "entity", "entity_id", "reason", "before",
    "after", "missed_planned_id", "late_planned_id", "row_refs", "row_hash", "signature_id", "prev_hash",
)  # fmt: skip


# The canonical form is dosing.store.chain's, copied here so this revision never changes meaning.
def _plain(value: Any) -> Any:
    from datetime import date
    from decimal import Decimal

    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _canonical(value: Any) -> bytes:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha(value: Any) -> str:
    return hashlib.sha256(_canonical(value)).hexdigest()


def _create_tables() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("full_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("roles", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("password_changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_accounts_username", "accounts", ["username"], unique=True)
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ended_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_sessions_token_hash", "login_sessions", ["token_hash"], unique=True)
    op.create_index("ix_login_sessions_account_id", "login_sessions", ["account_id"], unique=False)
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("printed_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("meaning", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("record_refs", sa.JSON(), nullable=False),
        sa.Column("record_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signatures_account_id", "signatures", ["account_id"], unique=False)
    # Added in place (nullable columns, no table rebuild), so the append-only triggers stay as they are.
    op.add_column("audit_log", sa.Column("row_refs", sa.JSON(), nullable=True))
    op.add_column(
        "audit_log", sa.Column("row_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    op.add_column("audit_log", sa.Column("signature_id", sa.Integer(), nullable=True))
    op.add_column(
        "audit_log", sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    op.add_column(
        "audit_log", sa.Column("entry_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    op.create_index("ix_audit_log_signature_id", "audit_log", ["signature_id"], unique=False)
    op.create_index("ix_audit_log_prev_hash", "audit_log", ["prev_hash"], unique=True)


def _case_insensitive_subject_codes() -> None:
    bind = op.get_bind()
    clashes = bind.execute(
        sa.text("SELECT lower(code), count(*) FROM subjects GROUP BY lower(code) HAVING count(*) > 1")
    ).all()
    if clashes:
        codes = ", ".join(row[0] for row in clashes[:10])
        raise RuntimeError(
            f"subject codes that differ only by case are enrolled ({codes}); they are two records of what "
            "may be one patient: resolve them with the study team before upgrading"
        )
    op.execute("CREATE UNIQUE INDEX uq_subjects_code_ci ON subjects (lower(code))")


def _deeper_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in ["signatures"]:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
        for table in APPEND_ONLY:
            # INSERT OR REPLACE deletes the old row without firing DELETE triggers (recursive_triggers
            # is off by default): refuse an insert whose id already exists before it can replace it.
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                f"WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: REPLACE refused'); END"
            )
        return
    op.execute(
        "CREATE TRIGGER signatures_append_only BEFORE UPDATE OR DELETE ON signatures "
        "FOR EACH ROW EXECUTE FUNCTION dosing_append_only()"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION dosing_append_only()"
        )


def _start_chain() -> None:
    with warnings.catch_warnings():
        # Reflection skips the expression index on subjects (lower(code)); the rows are all we read.
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection")
        _seal_and_link()


def _seal_and_link() -> None:
    bind = op.get_bind()
    metadata = sa.MetaData()
    audit = sa.Table("audit_log", metadata, autoload_with=bind)
    entries = list(bind.execute(sa.select(audit).order_by(audit.c.id)).mappings())
    sealed: dict[str, dict[str, Any]] = {}
    for name in SEALED:
        table = sa.Table(name, metadata, autoload_with=bind)
        max_id = bind.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
        if max_id:
            digest = hashlib.sha256()
            rows = bind.execute(sa.select(table).where(table.c.id <= max_id).order_by(table.c.id)).mappings()
            for row in rows:
                digest.update(_canonical({k: v for k, v in dict(row).items() if v is not None}))
                digest.update(b"\n")
            sealed[name] = {"max_id": int(max_id), "digest": digest.hexdigest()}
    if not entries and not sealed:
        return
    # The audit log refuses UPDATE: lift that for this one fill of the new columns, then restore it.
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_log_no_update")
    else:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    previous = GENESIS
    for entry in entries:
        fields = {name: entry.get(name) for name in ENTRY_FIELDS}
        fields["prev_hash"] = previous
        own = _sha({name: fields.get(name) for name in ENTRY_FIELDS})
        bind.execute(
            audit.update().where(audit.c.id == entry["id"]).values(prev_hash=previous, entry_hash=own)
        )
        previous = own
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END"
        )
    else:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    start: dict[str, Any] = {
        "at": datetime.now(UTC), "actor": "system:migration", "action": "chain_started",
        "protocol_id": None, "subject_code": None, "entity": "audit_log", "entity_id": None,
        "reason": "audit hash chain started (migration 0003); older rows sealed by digest",
        "before": None, "after": {"legacy": sealed, "legacy_entries": len(entries)},
        "missed_planned_id": None, "late_planned_id": None, "row_refs": None, "row_hash": None,
        "signature_id": None, "prev_hash": previous,
    }  # fmt: skip
    start["entry_hash"] = _sha({name: start.get(name) for name in ENTRY_FIELDS})
    bind.execute(audit.insert().values(**start))


def upgrade() -> None:
    _create_tables()
    _case_insensitive_subject_codes()
    _deeper_append_only()
    _start_chain()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
        op.execute("DROP TRIGGER IF EXISTS signatures_no_update")
        op.execute("DROP TRIGGER IF EXISTS signatures_no_delete")
    else:
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS signatures_append_only ON signatures")
    op.execute("DROP INDEX IF EXISTS uq_subjects_code_ci")
    op.drop_index("ix_audit_log_prev_hash", table_name="audit_log")
    op.drop_index("ix_audit_log_signature_id", table_name="audit_log")
    for column in ("entry_hash", "prev_hash", "signature_id", "row_hash", "row_refs"):
        op.drop_column("audit_log", column)
    op.drop_table("signatures")
    op.drop_table("login_sessions")
    op.drop_table("accounts")
