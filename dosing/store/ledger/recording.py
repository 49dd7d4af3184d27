"""Recording what happened to a dose: given or skipped, one record per planned dose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dosing.errors import DosingError
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _id, _local_date, _subject, _utc
from dosing.store.ledger.audit_entry import _audit, _row_json
from dosing.store.ledger.given_fields import _given_fields, _with_registered_lot
from dosing.store.ledger.recorded_dose import _planned_dose, _refuse_if_recorded
from dosing.store.ledger.safety_hold import study_hold
from dosing.store.models import GivenRequest, SkipRequest


def _with_refusal(store: Store, subject_code: str, sequence: int, work: Any) -> int:
    """Run ``work`` in a transaction; a unique-constraint race becomes the same refusal as a read would."""
    try:
        with store.transaction() as session:
            result: int = work(session)
            return result
    except IntegrityError as error:
        with store.session() as session:
            subject, enrollment = _subject(session, subject_code)
            _, events = _planned_dose(session, subject, enrollment, sequence)
            _refuse_if_recorded(subject, enrollment, sequence, events)
        raise DosingError(
            "dose",
            "one change at a time",
            f"dose {sequence} of {subject_code} was changed by someone else at the same moment; look again",
        ) from error


def _record_outcome(
    store: Store,
    request: GivenRequest | SkipRequest,
    kind: str,
    outcome_fields: Callable[[Session, t.Enrollment, t.PlannedAdministration, date], dict[str, Any]],
    reason: str | None,
    within: Callable[[Session, t.AdministrationEvent], list[Any]] | None = None,
) -> int:
    """The first record of a planned dose (``kind`` given or skipped) and its audit entry, in one
    transaction; ``outcome_fields`` gives what the record of that kind says."""

    def work(session: Session) -> int:
        subject, enrollment = _subject(session, request.subject_code)
        planned, events = _planned_dose(session, subject, enrollment, request.sequence)
        _refuse_if_recorded(subject, enrollment, request.sequence, events)
        _, earliest, latest = events.window(planned)
        fields = outcome_fields(session, enrollment, planned, earliest)
        event = t.AdministrationEvent(
            planned_id=_id(planned),
            subject_id=_id(subject),
            kind=kind,
            slot=events.next_slot(),
            window_latest=latest,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
            **fields,
        )
        session.add(event)
        session.flush()
        also = within(session, event) if within is not None else []
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action=f"record_{kind}",
            entity="administration_events",
            entity_id=event.id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            reason=reason,
            after={"dose": request.sequence, **_row_json(event, skip=("id", "planned_id", "subject_id"))},
            rows=[event, *also],
            signature=request.signature,
        )
        assert event.id is not None
        return event.id

    return _with_refusal(store, request.subject_code, request.sequence, work)


def record_given(
    store: Store,
    request: GivenRequest,
    audit_reason: str | None = None,
    within: Callable[[Session, t.AdministrationEvent], list[Any]] | None = None,
) -> int:
    """Record a given administration; refuses a second record of the same dose. Returns the record id.

    ``audit_reason`` marks a late entry ("late entry: ...") in the audit log. ``within`` runs in the same
    transaction once the record is written (the pharmacy's bedside bag scan): the rows it returns are
    audited and signed with the record, and a refusal it raises leaves nothing recorded."""

    def given(
        session: Session, enrollment: t.Enrollment, planned: t.PlannedAdministration, earliest: date
    ) -> dict[str, Any]:
        study_hold(session, enrollment.protocol_id).refuse(
            "dose", f"recording dose {request.sequence} as given"
        )
        fields = _given_fields(planned, enrollment, request, None, earliest)
        return _with_registered_lot(session, enrollment, fields)

    return _record_outcome(store, request, "given", given, reason=audit_reason, within=within)


def record_skipped(store: Store, request: SkipRequest) -> int:
    """Record that a dose was not given, and why. Returns the record id."""

    def skipped(
        session: Session, enrollment: t.Enrollment, planned: t.PlannedAdministration, earliest: date
    ) -> dict[str, Any]:
        decided = _utc(request.decided_at or request.as_of)
        return {"local_date": _local_date(decided, enrollment.timezone), "reason": request.reason}

    return _record_outcome(store, request, "skipped", skipped, reason=request.reason)
