"""Rescheduling after a delay: a preview anyone who reads the ledger may ask for (at any moment),
and an apply that is signed and stamped now."""

from __future__ import annotations

from datetime import datetime

from dosing.app.accounts import sign
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.stamping import stamped
from dosing.store import ledger
from dosing.store.models import RescheduleForm, ReschedulePreview, RescheduleRequest


def preview(ctx: Context, form: RescheduleForm, as_of: datetime) -> ReschedulePreview:
    require(ctx, "read_ledger")
    request = RescheduleRequest(
        **{name: getattr(form, name) for name in type(form).model_fields},
        actor=ctx.actor.username,
        as_of=as_of,
    )
    return ledger.preview_reschedule(ctx.store, request)


def apply(ctx: Context, form: RescheduleForm, password: str) -> ReschedulePreview:
    require(ctx, "reschedule")
    signature = sign(ctx, password, "reschedule approved by")
    return ledger.reschedule(ctx.store, stamped(RescheduleRequest, form, ctx, signature))
