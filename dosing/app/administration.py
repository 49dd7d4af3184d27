"""At the bedside: record a dose given, record a dose not given, correct a record. Each is signed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from dosing.app.accounts import sign
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.stamping import late_entry, not_in_future, stamped
from dosing.errors import HardStop
from dosing.store import ledger
from dosing.store.models import (
    CorrectionForm,
    CorrectionRequest,
    GivenForm,
    GivenRequest,
    SkipForm,
    SkipRequest,
)


def record_given(ctx: Context, form: GivenForm, password: str, bag: str | None = None) -> int:
    """Record a given dose, signed "administered by" the nurse. Returns the record id.

    ``bag``: the bag identifier scanned at the bedside (pharmacy custody, issue 11); see
    :func:`dosing.app.preparation.administered_at_bedside`."""
    require(ctx, "record")
    not_in_future(form.started_at, "at")
    not_in_future(form.ended_at, "end")
    reason = late_entry(form.started_at, form.late_reason)
    signature = sign(ctx, password, "administered by")
    # --- bedside bag scan (issue 11): the bag's lot goes on the record; its check and consumption run in
    # the record's transaction. Without a scan, the same transaction makes sure the pharmacy prepared no
    # bag for the dose (that bag would skip the bedside check and stay on the shelf, ready to be given).
    if bag is not None:
        from dosing.app import preparation

        form, within = preparation.bedside(ctx, bag, form)
    else:
        within = _no_bag_prepared(form.subject_code, form.sequence)
    # --- end bedside bag scan
    request = stamped(GivenRequest, form, ctx, signature)
    return ledger.record_given(store=ctx.store, request=request, audit_reason=reason, within=within)


def record_skipped(ctx: Context, form: SkipForm, password: str) -> int:
    """Record that a dose was not given, and why, signed by the nurse. Returns the record id."""
    require(ctx, "skip")
    not_in_future(form.decided_at, "at")
    signature = sign(ctx, password, "not given: recorded by")
    return ledger.record_skipped(ctx.store, stamped(SkipRequest, form, ctx, signature))


def correct(ctx: Context, form: CorrectionForm, password: str) -> int:
    """Correct the record of a dose (a new record naming the old one), signed "corrected by"."""
    require(ctx, "correct")
    not_in_future(form.started_at, "at")
    not_in_future(form.ended_at, "end")
    signature = sign(ctx, password, "corrected by")
    return ledger.correct(ctx.store, stamped(CorrectionRequest, form, ctx, signature))


def _no_bag_prepared(subject_code: str, sequence: int) -> Callable[[Session, Any], list[Any]]:
    """For a dose recorded without a bag scan, run in the record's transaction: refused when the pharmacy
    prepared a bag for this dose that is still prepared, verified or released."""

    def check(session: Session, _event: Any) -> list[Any]:
        from dosing.store.preparations import live_bag

        live = live_bag(session, subject_code, sequence)
        if live is not None:
            raise HardStop(
                "bag",
                "a dose the pharmacy prepared a bag for is recorded by scanning that bag at the bedside",
                f"{subject_code} dose {sequence} has bag {live.bag_id} ({live.state}); scan its label",
            )
        return []

    return check
