"""Dose-escalation cohorts: reading them, and an investigator's signed safety review."""

from __future__ import annotations

from datetime import datetime

from dosing.app.accounts import sign
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.stamping import stamped
from dosing.escalation import CohortState
from dosing.store import ledger
from dosing.store.models import CohortReviewForm, CohortReviewRequest


def cohorts(ctx: Context, protocol_id: str, as_of: datetime) -> list[CohortState]:
    require(ctx, "read_ledger")
    return ledger.cohorts(ctx.store, protocol_id, as_of)


def review(ctx: Context, form: CohortReviewForm, password: str) -> int:
    """Record a cohort's safety review, signed "reviewed: safe" or "reviewed: unsafe"."""
    require(ctx, "review_cohort")
    signature = sign(ctx, password, "reviewed: safe" if form.safe else "reviewed: unsafe")
    return ledger.review_cohort(ctx.store, stamped(CohortReviewRequest, form, ctx, signature))
