"""What the next subjects of a study are allocated from: the last randomization number and the
escalation cohorts, read once per transaction and advanced in memory as subjects are enrolled.

The caller holds the study's enrollment lock (``_one_writer_at_a_time``) for the whole transaction,
so nobody else moves the state it read: a batch of subjects is allocated exactly as the same subjects
enrolled one after the other.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlmodel import Session, SQLModel

from dosing import escalation as escalation_rules
from dosing import stopping
from dosing.protocol import Protocol
from dosing.store.ledger.escalation_cohorts import _cohort_inputs
from dosing.store.ledger.plan_rows import Choice
from dosing.store.ledger.safety_hold import study_hold

#: An escalation study's cohort members, safety reviews and hold, as read at the start of the batch.
_Cohorts = tuple[
    list[escalation_rules.CohortMember], list[escalation_rules.CohortReviewRecord], stopping.StudyHold
]


@cache
def _last_number() -> Select[Any]:
    """The last randomization number given in a study (the statement built once)."""
    enrollments = SQLModel.metadata.tables["enrollments"]
    return select(func.max(enrollments.c.randomization_number)).where(
        enrollments.c.protocol_id == bindparam("protocol_id")
    )


class AllocationState:
    """Randomization numbers and cohort places handed out in one transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._numbers: dict[str, int] = {}
        self._cohorts: dict[str, _Cohorts] = {}

    def next_number(self, protocol: Protocol) -> int:
        """The randomization number the next subject of ``protocol`` takes."""
        if protocol.id not in self._numbers:
            current = (
                self._session.connection().execute(_last_number(), {"protocol_id": protocol.id}).scalar()
            )
            self._numbers[protocol.id] = current or 0
        return self._numbers[protocol.id] + 1

    def next_slot(
        self, protocol: Protocol, as_of_local: date, requested_arm: str | None
    ) -> escalation_rules.CohortSlot:
        """Where the next subject of an escalation study goes; refused while the study is held."""
        assert protocol.escalation is not None
        if protocol.id not in self._cohorts:
            hold = study_hold(self._session, protocol.id)
            members, reviews = _cohort_inputs(self._session, protocol.id) if not hold.stopped else ([], [])
            self._cohorts[protocol.id] = (members, reviews, hold)
        members, reviews, hold = self._cohorts[protocol.id]
        hold.refuse("arm", "no cohort opens: enrollment")
        return escalation_rules.next_slot(
            protocol.escalation, members, reviews, as_of_local, requested_arm, level_cap=hold.level_cap
        )

    def take(self, protocol: Protocol, subject_code: str, choice: Choice) -> None:
        """Record that a subject was enrolled with ``choice`` (its rows are written in this transaction)."""
        arm, _source, number, cohort, _position = choice
        if number is not None:
            self._numbers[protocol.id] = number
        if cohort is not None and protocol.id in self._cohorts:
            members = self._cohorts[protocol.id][0]
            member = escalation_rules.CohortMember(
                subject_code=subject_code, cohort=cohort, arm=arm, first_dose=None
            )
            members.append(member)
