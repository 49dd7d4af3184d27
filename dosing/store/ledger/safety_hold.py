"""Safety holds: whether a study may go on (read from its unsafe reviews and the decisions on them),
and an investigator's decision that lifts a hold, audited with its reason."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dosing import stopping
from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _local_date, _utc
from dosing.store.ledger.audit_entry import _audit
from dosing.store.models import SafetyDecisionRequest


def _hold(session: Session, protocol_id: str) -> stopping.StudyHold:
    protocol = get_protocol(protocol_id)
    if not protocol.stopping_rules:
        return stopping.hold_state(protocol.id, [], [], [])
    unsafe = [
        stopping.UnsafeReview(
            review_id=review.id, cohort=review.cohort, arm=review.arm, reviewed_on=review.reviewed_on
        )
        for review in session.scalars(
            select(t.CohortReview).where(
                col(t.CohortReview.protocol_id) == protocol.id, col(t.CohortReview.safe).is_(False)
            )
        )
        if review.id is not None
    ]
    decisions = [
        stopping.HoldDecision(
            decision_id=decision.id,
            lifts_review_id=decision.lifts_review_id,
            action="terminate" if decision.action == "terminate" else "resume",
            level=decision.level,
            reason=decision.reason,
        )
        for decision in session.scalars(
            select(t.SafetyDecision).where(col(t.SafetyDecision.protocol_id) == protocol.id)
        )
        if decision.id is not None
    ]
    return stopping.hold_state(protocol.id, protocol.stopping_rules, unsafe, decisions)


def study_hold(session_or_store: Session | Store, protocol_id: str) -> stopping.StudyHold:
    """The study's safety hold, from the ledger: call ``.refuse(field, doing)`` before any enrollment,
    preparation or dose given. Inside a write, pass its session so the answer is the transaction's."""
    if isinstance(session_or_store, Session):
        return _hold(session_or_store, protocol_id)
    with session_or_store.session() as session:
        return _hold(session, protocol_id)


def _levels(protocol_id: str) -> list[str]:
    protocol = get_protocol(protocol_id)
    if protocol.escalation is not None:
        return list(protocol.escalation.order)
    return [arm.id for arm in protocol.arms]


def decide_hold(store: Store, request: SafetyDecisionRequest) -> int:
    """Record an investigator's decision on a study's safety hold (audited). Returns the decision id."""
    protocol = get_protocol(request.protocol_id)
    rule = "a safety hold is lifted only by an investigator's decision: resume at a named level, or terminate"
    if not protocol.stopping_rules:
        raise DosingError("protocol", "a study with stopping rules", f"{protocol.id} states no stopping rule")
    levels = _levels(protocol.id)
    if request.action == "resume" and request.level not in levels:
        raise DosingError(
            "level",
            f"resume names the dose level the study goes on at ({', '.join(levels)})",
            "give --level"
            if request.level is None
            else f"{request.level!r} is not a dose level of {protocol.id}",
        )
    if request.action == "terminate" and request.level is not None:
        raise DosingError("level", "terminate names no level", "leave out --level to terminate")
    if request.decided_on > _local_date(request.as_of, protocol.sites[0].timezone):
        raise DosingError(
            "decided on", "a decision is recorded after it is taken", f"{request.decided_on} is in the future"
        )
    try:
        return _decide(store, request, rule)
    except IntegrityError as error:
        raise DosingError(
            "decide", rule, f"someone else decided on {protocol.id}'s hold at the same moment; look again"
        ) from error


def _decide(store: Store, request: SafetyDecisionRequest, rule: str) -> int:
    protocol = get_protocol(request.protocol_id)
    with store.transaction() as session:
        hold = _hold(session, protocol.id)
        if hold.state != "held":
            raise DosingError(
                "decide",
                rule,
                f"{protocol.id} is not on a safety hold ({hold.reason or 'running'}): nothing to lift",
            )
        decision = t.SafetyDecision(
            protocol_id=protocol.id,
            lifts_review_id=hold.open_reviews[-1],
            action=request.action,
            level=request.level,
            reason=request.reason,
            decided_on=request.decided_on,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
        )
        session.add(decision)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action=f"safety_{request.action}",
            entity="safety_decisions",
            entity_id=decision.id,
            protocol_id=protocol.id,
            reason=request.reason,
            before={"state": hold.state, "hold": hold.reason, "unsafe_reviews": hold.open_reviews},
            after={
                "action": request.action,
                "level": request.level,
                "decided_on": request.decided_on.isoformat(),
                "state": "terminated" if request.action == "terminate" else "running",
            },
            rows=[decision],
            signature=request.signature,
        )
        assert decision.id is not None
        return decision.id
