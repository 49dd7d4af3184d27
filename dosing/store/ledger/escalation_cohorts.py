"""Dose-escalation cohorts: members, safety reviews and which cohort is open."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from dosing import escalation as escalation_rules
from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _chunks, _local_date, _utc
from dosing.store.ledger.audit_entry import _audit
from dosing.store.ledger.views import _load_events
from dosing.store.models import CohortReviewRequest


def _cohort_inputs(
    session: Session, protocol_id: str
) -> tuple[list[escalation_rules.CohortMember], list[escalation_rules.CohortReviewRecord]]:
    pairs = [
        (row[0], row[1])
        for row in session.execute(
            select(t.Subject, t.Enrollment)
            .join(t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id))
            .where(col(t.Enrollment.protocol_id) == protocol_id, col(t.Enrollment.cohort).is_not(None))
            .order_by(col(t.Enrollment.id))
        ).all()
    ]
    events = _load_events(session, [subject.id for subject, _ in pairs if subject.id is not None])
    planned_subject = {}
    if events:
        for chunk in _chunks(list(events)):
            for planned_id, subject_id in session.connection().execute(
                select(col(t.PlannedAdministration.id), col(t.PlannedAdministration.subject_id)).where(
                    col(t.PlannedAdministration.id).in_(chunk)
                )
            ):
                planned_subject[planned_id] = subject_id
    first: dict[int, date] = {}
    for planned_id, dose_events in events.items():
        effective, kind = dose_events.effective()
        if effective is not None and kind == "given" and effective.local_date is not None:
            subject_id = planned_subject[planned_id]
            first[subject_id] = min(first.get(subject_id, date.max), effective.local_date)
    members = [
        escalation_rules.CohortMember(
            subject_code=subject.code,
            cohort=enrollment.cohort,
            arm=enrollment.arm,
            first_dose=first.get(subject.id),
        )
        for subject, enrollment in pairs
    ]
    reviews = [
        escalation_rules.CohortReviewRecord(
            cohort=review.cohort, safe=review.safe, reviewed_on=review.reviewed_on
        )
        for review in session.scalars(
            select(t.CohortReview)
            .where(col(t.CohortReview.protocol_id) == protocol_id)
            .order_by(col(t.CohortReview.id))
        )
    ]
    return members, reviews


def cohorts(store: Store, protocol_id: str, as_of: datetime) -> list[escalation_rules.CohortState]:
    """The escalation cohorts of a study, with members, safety windows, reviews and which is open."""
    protocol = get_protocol(protocol_id)
    if protocol.escalation is None:
        raise DosingError("protocol", "a dose-escalation study", f"{protocol_id} has no escalation cohorts")
    as_of_local = _local_date(as_of, protocol.sites[0].timezone)
    with store.session() as session:
        members, reviews = _cohort_inputs(session, protocol_id)
    return escalation_rules.cohort_states(protocol.escalation, members, reviews, as_of_local)


def review_cohort(store: Store, request: CohortReviewRequest) -> int:
    """Record a cohort's safety review (audited). Returns the review id."""
    protocol = get_protocol(request.protocol_id)
    if protocol.escalation is None:
        raise DosingError("protocol", "a dose-escalation study", f"{protocol.id} has no escalation cohorts")
    levels = len(protocol.escalation.order)
    if request.cohort > levels + 1:
        raise DosingError(
            "cohort", f"cohorts 1-{levels} and the expansion ({levels + 1})", f"no cohort {request.cohort}"
        )
    with store.transaction() as session:
        members, _ = _cohort_inputs(session, protocol.id)
        in_cohort = [member for member in members if member.cohort == request.cohort]
        if not in_cohort:
            raise DosingError(
                "cohort", "a review covers enrolled subjects", f"cohort {request.cohort} has no subjects"
            )
        review = t.CohortReview(
            protocol_id=protocol.id,
            cohort=request.cohort,
            arm=in_cohort[0].arm,
            safe=request.safe,
            reviewed_on=request.reviewed_on,
            notes=request.notes,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
        )
        session.add(review)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="cohort_review",
            entity="cohort_reviews",
            entity_id=review.id,
            protocol_id=protocol.id,
            reason=request.notes,
            after={
                "cohort": request.cohort,
                "arm": review.arm,
                "safe": request.safe,
                "reviewed_on": request.reviewed_on.isoformat(),
                "members": [member.subject_code for member in in_cohort],
            },
            rows=[review],
            signature=request.signature,
        )
        assert review.id is not None
        return review.id
