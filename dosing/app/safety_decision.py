"""An investigator's signed decision on a study's safety hold (issue 9), and reading the hold."""

from __future__ import annotations

from dosing.app.accounts import sign
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.stamping import stamped
from dosing.stopping import StudyHold
from dosing.store import ledger
from dosing.store.models import SafetyDecisionForm, SafetyDecisionRequest


def hold(ctx: Context, protocol_id: str) -> StudyHold:
    require(ctx, "read_ledger")
    return ledger.study_hold(ctx.store, protocol_id)


def decide(ctx: Context, form: SafetyDecisionForm, password: str) -> int:
    """Record the decision, signed "safety hold: resume" or "safety hold: terminate"."""
    require(ctx, "safety_decision")
    signature = sign(ctx, password, f"safety hold: {form.action}")
    return ledger.decide_hold(ctx.store, stamped(SafetyDecisionRequest, form, ctx, signature))
