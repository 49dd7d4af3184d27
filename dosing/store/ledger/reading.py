"""Reads of the ledger for the bedside, calendars and pharmacy: one subject, or a site over dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from dosing.store import tables as t
from dosing.store.accounts import signature_texts
from dosing.store.db import Store
from dosing.store.ledger._common import _local_date, _subject, _utc
from dosing.store.ledger.views import _views
from dosing.store.models import SubjectView


def subject_timezone(store: Store, subject_code: str) -> str:
    """The IANA zone of the subject's site (times typed at the bedside are read in it)."""
    with store.session() as session:
        return _subject(session, subject_code)[1].timezone


def subject_protocol(store: Store, subject_code: str) -> str:
    with store.session() as session:
        return _subject(session, subject_code)[1].protocol_id


def subject_view(store: Store, subject_code: str, as_of: datetime) -> SubjectView:
    """The subject's plan with the status of every dose as of ``as_of``."""
    _utc(as_of)
    with store.session() as session:
        pair = _subject(session, subject_code)
        return _with_signatures(session, _views(session, [pair], as_of)[0])


def _with_signatures(session: Session, view: SubjectView) -> SubjectView:
    """Each given record with its electronic signature as printed (name, username, meaning, time)."""
    record_ids = [dose.given.record_id for dose in view.doses if dose.given is not None]
    if not record_ids:
        return view
    signed_by_record = {
        row[0]: row[1]
        for row in session.execute(
            select(col(t.AuditEntry.entity_id), col(t.AuditEntry.signature_id)).where(
                col(t.AuditEntry.entity) == "administration_events",
                col(t.AuditEntry.entity_id).in_(record_ids),
                col(t.AuditEntry.signature_id).is_not(None),
            )
        ).all()
    }
    texts = signature_texts(session, [int(s) for s in signed_by_record.values() if s is not None])
    doses = [
        dose.model_copy(update={"given": dose.given.model_copy(update={"signed": texts.get(signed)})})
        if dose.given is not None and (signed := signed_by_record.get(dose.given.record_id)) is not None
        else dose
        for dose in view.doses
    ]
    return view.model_copy(update={"doses": doses})


def site_views(
    store: Store, site_id: str | None, start: date | None, end: date | None, as_of: datetime
) -> list[SubjectView]:
    """Every subject at a site (or everywhere) with a dose or assessment between start and end."""
    _utc(as_of)
    with store.session() as session:
        query = select(t.Subject, t.Enrollment).join(
            t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id)
        )
        if site_id is not None:
            query = query.where(col(t.Enrollment.site) == site_id)
        if start is not None or end is not None:
            # One day inside the calendar's limits, so widening by a day never overflows.
            low = start or date.min + timedelta(days=1)
            high = end or date.max - timedelta(days=1)
            # Candidates by planned dates (widened by a reschedule's reach), then exact on effective dates.
            moved = select(col(t.AdministrationEvent.subject_id)).where(
                col(t.AdministrationEvent.kind) == "reschedule"
            )
            dose_in = select(col(t.PlannedAdministration.subject_id)).where(
                col(t.PlannedAdministration.latest) >= low, col(t.PlannedAdministration.earliest) <= high
            )
            assessment_in = select(col(t.PlannedAssessment.subject_id)).where(
                col(t.PlannedAssessment.due_date) >= low - timedelta(days=1),
                col(t.PlannedAssessment.due_date) <= high + timedelta(days=1),
            )
            query = query.where(col(t.Subject.id).in_(dose_in.union(assessment_in, moved)))
        pairs = [(row[0], row[1]) for row in session.execute(query.order_by(col(t.Subject.code))).all()]
        views = _views(session, pairs, as_of)
    if start is None and end is None:
        return views
    low = start or date.min
    high = end or date.max

    def touches(view: SubjectView) -> bool:
        return any(d.latest >= low and d.earliest <= high for d in view.doses) or any(
            low <= _local_date(a.due, view.timezone) <= high for a in view.assessments
        )

    return [view for view in views if touches(view)]
