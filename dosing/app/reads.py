"""Reading the ledger: every read is by an authenticated account that may read it.

``as_of`` here is a read's point of view (what was known, what was due, at that moment); it is never
a time stamped on a record.
"""

from __future__ import annotations

from datetime import date, datetime

from dosing.app import clock
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.store import ledger
from dosing.store.chain import ChainReport
from dosing.store.models import AuditView, OverdueRow, SubjectView, SweepResult


def subject_view(ctx: Context, subject_code: str, as_of: datetime | None = None) -> SubjectView:
    require(ctx, "read_ledger")
    return ledger.subject_view(ctx.store, subject_code, as_of or clock.now())


def site_views(
    ctx: Context, site_id: str | None, start: date | None, end: date | None, as_of: datetime | None = None
) -> list[SubjectView]:
    require(ctx, "read_ledger")
    return ledger.site_views(ctx.store, site_id, start, end, as_of or clock.now())


def overdue(ctx: Context, as_of: datetime | None = None) -> list[OverdueRow]:
    require(ctx, "read_ledger")
    return ledger.overdue(ctx.store, as_of or clock.now())


def sweep(ctx: Context) -> SweepResult:
    """Write newly missed and newly late doses to the audit log, as of the server clock (never a typed
    time: a dose is marked missed only once its window has closed by the clock)."""
    require(ctx, "sweep")
    return ledger.sweep_overdue(ctx.store, clock.now(), ctx.actor.username)


def audit_trail(
    ctx: Context, subject_code: str | None = None, protocol_id: str | None = None, limit: int | None = None
) -> list[AuditView]:
    require(ctx, "read_ledger")
    return ledger.audit_trail(ctx.store, subject_code=subject_code, protocol_id=protocol_id, limit=limit)


def verify_audit(ctx: Context) -> ChainReport:
    """Recompute the audit chain and every ledger row it covers."""
    require(ctx, "verify_audit")
    import dosing.store.lots  # noqa: F401  (the lots table is covered too)
    from dosing.store.chain import verify

    with ctx.store.session() as session:
        return verify(session)
