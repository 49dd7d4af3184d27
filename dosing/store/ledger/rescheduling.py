"""Rescheduling: preview the moves, or apply them as new rows with one audit entry."""

from __future__ import annotations

from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _id, _utc
from dosing.store.ledger.audit_entry import _audit
from dosing.store.ledger.reschedule_plan import _reschedule_plan
from dosing.store.models import ReschedulePreview, RescheduleRequest


def preview_reschedule(store: Store, request: RescheduleRequest) -> ReschedulePreview:
    """What a reschedule would move, without writing anything."""
    with store.session() as session:
        return _reschedule_plan(session, request)[2]


def reschedule(store: Store, request: RescheduleRequest) -> ReschedulePreview:
    """Apply a reschedule: one new row per moved dose, and one audit entry with before and after."""
    with store.transaction() as session:
        subject, enrollment, preview, planned_rows, _ = _reschedule_plan(session, request)
        if not preview.changes:
            return preview
        moved = []
        for change in preview.changes:
            moved.append(
                t.AdministrationEvent(
                    planned_id=_id(planned_rows[change.sequence]),
                    subject_id=_id(subject),
                    kind="reschedule",
                    new_target=change.new_target,
                    new_earliest=change.new_window[0],
                    new_latest=change.new_window[1],
                    reason=request.reason or f"dose {request.sequence} on {preview.given_on.isoformat()}",
                    recorded_at=_utc(request.as_of),
                    recorded_by=request.actor,
                )
            )
        session.add_all(moved)
        session.flush()
        entry = _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="reschedule",
            entity="planned_administrations",
            entity_id=planned_rows[request.sequence].id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            reason=request.reason,
            before={
                "policy": preview.policy.value,
                "doses": [
                    {
                        "dose": c.sequence,
                        "target": c.old_target.isoformat(),
                        "window": [c.old_window[0].isoformat(), c.old_window[1].isoformat()],
                    }
                    for c in preview.changes
                ],
            },
            after={
                "given_on": preview.given_on.isoformat(),
                "delay_days": preview.delay_days,
                "doses": [
                    {
                        "dose": c.sequence,
                        "target": c.new_target.isoformat(),
                        "window": [c.new_window[0].isoformat(), c.new_window[1].isoformat()],
                    }
                    for c in preview.changes
                ],
            },
            rows=moved,
            signature=request.signature,
        )
        return preview.model_copy(update={"applied": True, "audit_id": entry.id})
