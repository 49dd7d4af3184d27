"""Enrolling many subjects at once (a roster): authority checked once, one store transaction per
batch, each subject all or nothing (the batch's rows are inserted per table, see
``dosing.store.ledger.enrollment_batch``).

The same rules as one enrollment (``dosing.app.enrollment``): each subject is validated, allocated
(randomization list, escalation cohorts), planned and audited by the same ledger code; only the
transaction is shared. A refused row is reported by its line and does not stop the others; a subject
already enrolled with the same inputs is skipped (a rerun changes nothing), one enrolled with other
inputs is refused, never overwritten. Used by the roster flow and by ``dosing enroll --roster``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dosing.app import clock
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.roster import Roster, RosterRow
from dosing.app.stamping import stamped
from dosing.errors import DosingError, from_validation_error
from dosing.status import local_date
from dosing.store import ledger
from dosing.store.ledger.plan_rows import ALREADY_ENROLLED
from dosing.store.models import Enrollment, EnrollmentForm, EnrollmentRequest


def enroll_many(ctx: Context, forms: Sequence[EnrollmentForm]) -> list[Enrollment | DosingError]:
    """Enroll ``forms`` as ``ctx.actor`` in one transaction: the enrollment or the refusal of each,
    in order. The actor's authority is checked once, before anything is read or written."""
    require(ctx, "enroll")
    requests: list[EnrollmentRequest | DosingError] = []
    for form in forms:
        try:
            requests.append(stamped(EnrollmentRequest, form, ctx))
        except DosingError as error:
            requests.append(error)
    valid = [request for request in requests if isinstance(request, EnrollmentRequest)]
    stored = iter(ledger.enroll_many(ctx.store, valid) if valid else [])
    return [request if isinstance(request, DosingError) else next(stored) for request in requests]


def differences(row: RosterRow, enrolled: Any) -> list[str]:
    """What a roster row says that the subject's enrollment does not (empty: the same enrollment)."""
    found = []
    if enrolled.protocol_id != row.protocol_id:
        found.append(f"protocol {enrolled.protocol_id} (roster: {row.protocol_id})")
    if row.arm is not None and enrolled.arm != row.arm:
        found.append(f"arm {enrolled.arm} (roster: {row.arm})")
    if enrolled.weight.value != row.weight.value:
        found.append(f"weight {enrolled.weight} (roster: {row.weight})")
    if row.site is not None and enrolled.site != row.site:
        found.append(f"site {enrolled.site} (roster: {row.site})")
    # An instant anchors on its local calendar day at the site, as the plan counts days.
    anchor_day = local_date(row.anchor, enrolled.timezone) if isinstance(row.anchor, datetime) else row.anchor
    if enrolled.anchor_date != anchor_day:
        found.append(f"anchor {enrolled.anchor_date} (roster: {anchor_day})")
    return found


def _rejection(row: RosterRow, field: str, reason: str) -> dict[str, Any]:
    return {"line": row.line, "subject_code": row.subject_code, "field": field, "reason": reason}


def enroll_rows(ctx: Context, rows: Sequence[RosterRow]) -> dict[str, list[Any]]:
    """Enroll roster ``rows`` (one transaction) as ``ctx.actor``: what was enrolled,
    skipped (already enrolled, same inputs) and rejected (by line, with the field and the rule)."""
    enrolled: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    forms: list[EnrollmentForm | DosingError] = []
    for row in rows:
        try:
            forms.append(row.to_form())
        except DosingError as error:
            forms.append(error)
        except ValidationError as error:
            forms.append(from_validation_error(error))
    valid = [form for form in forms if isinstance(form, EnrollmentForm)]
    stored = iter(enroll_many(ctx, valid))
    for row, form in zip(rows, forms, strict=True):
        result = form if isinstance(form, DosingError) else next(stored)
        if isinstance(result, Enrollment):
            enrolled.append(
                {
                    "line": row.line,
                    "subject_code": result.subject_code,
                    "protocol_id": result.protocol_id,
                    "arm": result.arm,
                    "site": result.site,
                    "planned_doses": result.planned_doses,
                }
            )
            continue
        if result.rule != ALREADY_ENROLLED:
            rejected.append(_rejection(row, result.field, f"{result.message} (rule: {result.rule})"))
            continue
        existing = ledger.subject_view(ctx.store, row.subject_code, clock.now())
        changed = differences(row, existing)
        if changed:
            reason = "already enrolled with other inputs: " + "; ".join(changed)
            rejected.append(_rejection(row, "subject_code", reason))
        else:
            skipped.append(
                {
                    "line": row.line,
                    "subject_code": row.subject_code,
                    "protocol_id": existing.protocol_id,
                    "arm": existing.arm,
                    "site": existing.site,
                }
            )
    return {"enrolled": enrolled, "skipped": skipped, "rejected": rejected}


#: Subjects per store transaction: a batch holds the writers' turn (SQLite's one writer) while it runs.
DEFAULT_BATCH_SIZE = 500


def enroll_roster(
    ctx: Context, roster: Roster, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, list[Any]]:
    """Enroll a parsed roster in batches of ``batch_size`` (one transaction each): the enrolled, the
    skipped and the rejected rows (those refused while reading included), rejected in line order."""
    if batch_size < 1:
        raise DosingError("batch size", "batch size >= 1", f"{batch_size} subjects per transaction")
    require(ctx, "enroll")
    outcome: dict[str, list[Any]] = {
        "enrolled": [],
        "skipped": [],
        "rejected": [row.model_dump(mode="json") for row in roster.rejected],
    }
    for start in range(0, len(roster.rows), batch_size):
        batch = enroll_rows(ctx, roster.rows[start : start + batch_size])
        for key, items in batch.items():
            outcome[key].extend(items)
    outcome["rejected"].sort(key=lambda item: item["line"])
    return outcome
