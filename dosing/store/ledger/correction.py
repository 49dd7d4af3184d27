"""Corrections: a new record that replaces the record in effect and says why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dosing.errors import DosingError
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _id, _local_date, _subject, _utc
from dosing.store.ledger.audit_entry import _audit, _row_json
from dosing.store.ledger.given_fields import _given_fields, _with_registered_lot
from dosing.store.ledger.recorded_dose import _planned_dose
from dosing.store.models import CorrectionRequest


def correct(store: Store, request: CorrectionRequest) -> int:
    """A new record that corrects the effective record of a dose, stating why. Returns its id."""

    def work(session: Session) -> int:
        subject, enrollment = _subject(session, request.subject_code)
        planned, events = _planned_dose(session, subject, enrollment, request.sequence)
        tail, kind = events.tail()
        if tail is None or kind == "void":
            raise DosingError(
                "dose",
                "a correction replaces an existing record",
                f"dose {request.sequence} of {subject.code} has no record to correct",
            )
        if request.record_id is not None and request.record_id != tail.id:
            raise DosingError(
                "record",
                "a correction applies to the record in effect",
                f"record {request.record_id} is not in effect for dose {request.sequence}; "
                f"record {tail.id} is",
            )
        asked = _utc(request.as_of)
        # A record stamped long after the request is no concurrent change: it can only be a row from
        # before the server clock stamped records (a typed --as-of), and it must stay correctable.
        if asked <= tail.recorded_at < asked + timedelta(hours=1):
            # Whoever asked for this correction could not have seen a record made at or after the
            # moment they asked: two corrections of one dose at the same moment keep the first, on
            # SQLite (writers take turns, so the second would otherwise correct the first) as on
            # PostgreSQL (where the unique corrects_id refuses the second).
            raise DosingError(
                "record",
                "a correction replaces the record its author saw; a later change corrects the correction",
                f"dose {request.sequence} of {subject.code} was changed by {tail.recorded_by} at "
                f"{_utc(tail.recorded_at).isoformat()}, at or after this correction was asked for; "
                "look at it again (dosing status) before correcting",
            )
        _, earliest, latest = events.window(planned)
        fields: dict[str, Any] = {}
        if request.becomes == "given":
            fields = _with_registered_lot(
                session,
                enrollment,
                _given_fields(planned, enrollment, request, tail if kind == "given" else None, earliest),
            )
        elif request.becomes == "skipped":
            reason = request.skip_reason or (tail.reason if kind == "skipped" else None)
            if not reason:
                raise DosingError(
                    "skip reason", "a skipped dose has a reason", "give the reason it was not given"
                )
            fields = {
                "reason": reason,
                "local_date": tail.local_date
                if kind == "skipped"
                else _local_date(request.as_of, enrollment.timezone),
            }
        event = t.AdministrationEvent(
            planned_id=_id(planned),
            subject_id=_id(subject),
            kind="correction",
            corrects_id=tail.id,
            corrected_kind=request.becomes,
            window_latest=latest,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
            **fields,
        )
        if request.becomes != "skipped":
            event.reason = None
        session.add(event)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="correct",
            entity="administration_events",
            entity_id=event.id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            reason=request.reason,
            before={
                "dose": request.sequence,
                "kind": kind,
                **_row_json(tail, skip=("planned_id", "subject_id")),
            },
            after={
                "dose": request.sequence,
                "kind": request.becomes,
                **_row_json(event, skip=("id", "planned_id", "subject_id")),
            },
            rows=[event],
            signature=request.signature,
        )
        assert event.id is not None
        return event.id

    try:
        with store.transaction() as session:
            return work(session)
    except IntegrityError as error:
        # Two corrections of the same record at the same moment: the unique corrects_id kept one.
        raise DosingError(
            "record",
            "a record is corrected once; a later change corrects the correction",
            f"dose {request.sequence} of {request.subject_code} was corrected by someone else at the same "
            "moment; look at it again (dosing status) before correcting",
        ) from error
