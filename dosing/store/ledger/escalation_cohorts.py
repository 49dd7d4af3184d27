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
from dosing.store.ledger.safety_hold import study_hold
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
            review_id=review.id, cohort=review.cohort, safe=review.safe, reviewed_on=review.reviewed_on
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
        hold = study_hold(session, protocol.id)
    return escalation_rules.cohort_states(
        protocol.escalation,
        members,
        reviews,
        as_of_local,
        held=hold.reason if hold.stopped else None,
        level_cap=hold.level_cap,
    )


def _review_rule(days: int) -> str:
    return (
        f"a cohort is reviewed once every member is past the {days}-day safety window after a dose actually "
        "given; an earlier review needs a reason (audited)"
    )


def _check_review(
    request: CohortReviewRequest,
    days: int,
    in_cohort: list[escalation_rules.CohortMember],
    earlier: escalation_rules.CohortReviewRecord | None,
) -> bool:
    """Refuse a review that comes too early or twice without a reason; True when it is early."""
    label = f"cohort {request.cohort} ({in_cohort[0].arm})"
    if request.safe and all(member.first_dose is None for member in in_cohort):
        raise DosingError(
            "safe",
            "a cohort is reviewed safe only after its members were dosed",
            f"{label}: no member has a dose recorded as given",
        )
    ends = escalation_rules.window_end(in_cohort, days)
    early = ends is None or request.reviewed_on < ends
    if early and not request.reason:
        if ends is None:
            undosed = ", ".join(m.subject_code for m in in_cohort if m.first_dose is None)
            why = f"no dose recorded as given yet for {undosed}"
        else:
            why = f"its safety window ends on {ends.isoformat()}"
        raise DosingError(
            "reviewed on", _review_rule(days), f"{label}: {why}; an early review needs --reason"
        )
    if earlier is not None and not request.reason:
        conclusion = "safe" if earlier.safe else "unsafe"
        raise DosingError(
            "review",
            "one review per cohort; a later review supersedes it with a reason (audited)",
            f"{label} was already reviewed {conclusion} on {earlier.reviewed_on.isoformat()} "
            f"(review {earlier.review_id}); give --reason to supersede it",
        )
    return early


def review_cohort(store: Store, request: CohortReviewRequest) -> int:
    """Record a cohort's safety review (audited). Returns the review id.

    Accepted once every member is past the safety window after a dose actually given; an earlier review
    (the usual case of an unsafe finding) or a second review of the same cohort needs a reason. An
    unsafe review sets off the protocol's stopping rules (see :mod:`dosing.stopping`).
    """
    protocol = get_protocol(request.protocol_id)
    if protocol.escalation is None:
        raise DosingError("protocol", "a dose-escalation study", f"{protocol.id} has no escalation cohorts")
    levels = len(protocol.escalation.order)
    if request.cohort > levels + 1:
        raise DosingError(
            "cohort", f"cohorts 1-{levels} and the expansion ({levels + 1})", f"no cohort {request.cohort}"
        )
    if request.reviewed_on > _local_date(request.as_of, protocol.sites[0].timezone):
        raise DosingError(
            "reviewed on",
            "a review is recorded after it took place",
            f"{request.reviewed_on.isoformat()} is in the future",
        )
    with store.transaction() as session:
        members, reviews = _cohort_inputs(session, protocol.id)
        in_cohort = [member for member in members if member.cohort == request.cohort]
        if not in_cohort:
            raise DosingError(
                "cohort", "a review covers enrolled subjects", f"cohort {request.cohort} has no subjects"
            )
        earlier = escalation_rules.latest_review(reviews, request.cohort)
        early = _check_review(request, protocol.escalation.safety_window_days, in_cohort, earlier)
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
            reason=request.reason or request.notes,
            before=None
            if earlier is None
            else {
                "review": earlier.review_id,
                "safe": earlier.safe,
                "reviewed_on": earlier.reviewed_on.isoformat(),
            },
            after={
                "cohort": request.cohort,
                "arm": review.arm,
                "safe": request.safe,
                "reviewed_on": request.reviewed_on.isoformat(),
                "members": [member.subject_code for member in in_cohort],
                "early": early,
                "supersedes": None if earlier is None else earlier.review_id,
                "notes": request.notes,
            },
            rows=[review],
            signature=request.signature,
        )
        assert review.id is not None
        return review.id
