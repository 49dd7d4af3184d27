"""Enrolling a subject: the plan stored in one transaction, attributed to the coordinator."""

from __future__ import annotations

from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.stamping import stamped
from dosing.store import ledger
from dosing.store.models import Enrollment, EnrollmentForm, EnrollmentRequest


def enroll(ctx: Context, form: EnrollmentForm) -> Enrollment:
    require(ctx, "enroll")
    check_chosen_dose(form)
    return ledger.enroll(ctx.store, stamped(EnrollmentRequest, form, ctx))


def check_chosen_dose(form: EnrollmentForm) -> None:
    """A dose per kg chosen per patient is checked against every arm it may be given on, before the
    allocation: a 10x typo is refused even when the list then assigns the control arm (which would
    drop it unseen), and a refusal never tells which arm the list was about to assign."""
    from dosing.catalog import get_protocol
    from dosing.dose import dose_per_kg_for
    from dosing.protocol import PerKgRange

    protocol = get_protocol(form.protocol_id)
    for arm in protocol.arms:
        if isinstance(arm.dose, PerKgRange) and form.arm in (None, arm.id):
            dose_per_kg_for(arm, form.dose_per_kg)
