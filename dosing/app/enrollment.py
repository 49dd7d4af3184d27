"""Enrolling a subject: the plan stored in one transaction, attributed to the coordinator."""

from __future__ import annotations

from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.stamping import stamped
from dosing.store import ledger
from dosing.store.models import Enrollment, EnrollmentForm, EnrollmentRequest


def enroll(ctx: Context, form: EnrollmentForm) -> Enrollment:
    require(ctx, "enroll")
    return ledger.enroll(ctx.store, stamped(EnrollmentRequest, form, ctx))
