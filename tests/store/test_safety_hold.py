"""Stopping rules in the ledger (issue 9): an unsafe cohort review puts NCT04822922 on a safety hold;
while held nothing opens, nothing is given; only an investigator's audited decision lifts it.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from dosing.errors import DosingError, HardStop
from dosing.store import Store, ledger
from dosing.store import tables as t
from dosing.store.models import CohortReviewRequest, SafetyDecisionRequest, SkipRequest
from tests.store.conftest import at, enrollment
from tests.store.test_ledger import given

PROTOCOL = "NCT04822922"


def _review(store: Store, cohort: int, safe: bool, on: date, reason: str | None = None) -> int:
    return ledger.review_cohort(
        store,
        CohortReviewRequest(
            protocol_id=PROTOCOL,
            cohort=cohort,
            safe=safe,
            reviewed_on=on,
            reason=reason,
            actor="dsmb",
            as_of=at(f"{on.isoformat()}T04:00:00+00:00"),
        ),
    )


def _decide(store: Store, action: str, level: str | None, on: date, reason: str = "DSMB minutes 7") -> int:
    return ledger.decide_hold(
        store,
        SafetyDecisionRequest(
            protocol_id=PROTOCOL,
            action=action,  # type: ignore[arg-type]
            level=level,
            reason=reason,
            decided_on=on,
            actor="investigator",
            as_of=at(f"{on.isoformat()}T04:00:00+00:00"),
        ),
    )


def _cohort(store: Store, first: int, anchor: date) -> None:
    for n in range(first, first + 4):
        ledger.enroll(
            store,
            enrollment(subject=f"S-{n:03d}", anchor=anchor, as_of=f"{anchor.isoformat()}T00:30:00+00:00"),
        )
        given(store, 1, f"{anchor.isoformat()}T09:30:00+08:00", subject=f"S-{n:03d}")


def _count(store: Store, table: type) -> int:
    with store.session() as session:
        return int(session.scalars(select(func.count()).select_from(table)).one())


def _issue_9_scenario(store: Store) -> None:
    """Cohort 1 reviewed safe, cohort 2 enrolled and dosed, cohort 1 then unsafe, cohort 2 safe."""
    _cohort(store, 1, date(2026, 12, 1))
    _review(store, 1, True, date(2026, 12, 31))
    _cohort(store, 5, date(2027, 1, 2))
    _review(store, 1, False, date(2027, 1, 5), reason="SAE in S-002: acute kidney injury")
    _review(store, 2, True, date(2027, 2, 1))


def test_issue_9_no_escalation_past_an_unsafe_cohort_and_nothing_given_while_held(store: Store) -> None:
    _issue_9_scenario(store)
    hold = ledger.study_hold(store, PROTOCOL)
    assert hold.state == "held"
    assert hold.reason == "safety stop: cohort 1 (low) reviewed unsafe on 2027-01-05 (review 2)"
    subjects, events = _count(store, t.Subject), _count(store, t.AdministrationEvent)
    with pytest.raises(HardStop) as enrolling:
        ledger.enroll(
            store, enrollment(subject="S-009", anchor=date(2027, 2, 2), as_of="2027-02-02T00:30:00+00:00")
        )
    assert enrolling.value.field == "arm" and "held (safety stop" in enrolling.value.message
    assert enrolling.value.rule.startswith("stopping rule sae-stops-study: If serious adverse reactions")
    with pytest.raises(HardStop) as recording:
        given(store, 2, "2027-01-05T09:30:00+08:00", subject="S-005")
    assert recording.value.field == "dose" and "recording dose 2 as given refused" in recording.value.message
    assert (_count(store, t.Subject), _count(store, t.AdministrationEvent)) == (subjects, events)
    # What did not happen can still be recorded: a skip is not a dose given.
    ledger.record_skipped(
        store,
        SkipRequest(subject_code="S-005", sequence=2, reason="safety hold", actor="nurse",
                    as_of=at("2027-01-05T02:00:00+00:00")),
    )  # fmt: skip
    view = ledger.subject_view(store, "S-006", at("2027-01-05T00:00:00+00:00"))
    assert view.hold is not None and view.hold.startswith("safety stop: cohort 1 (low)")
    states = ledger.cohorts(store, PROTOCOL, at("2027-02-02T00:00:00+00:00"))
    assert not any(state.open for state in states)


def test_a_resume_lifts_the_hold_at_the_named_level_with_its_reason_audited(store: Store) -> None:
    _issue_9_scenario(store)
    with pytest.raises(DosingError) as no_level:
        _decide(store, "resume", None, date(2027, 2, 3))
    assert no_level.value.field == "level"
    with pytest.raises(DosingError) as unknown:
        _decide(store, "resume", "highest", date(2027, 2, 3))
    assert unknown.value.field == "level"
    decision = _decide(store, "resume", "low", date(2027, 2, 3), reason="SAE judged unrelated (sepsis)")
    hold = ledger.study_hold(store, PROTOCOL)
    assert (hold.state, hold.level_cap) == ("running", "low")
    entry = ledger.audit_trail(store)[-1]
    assert (entry.action, entry.entity_id, entry.reason) == (
        "safety_resume",
        decision,
        "SAE judged unrelated (sepsis)",
    )
    assert entry.before is not None and entry.before["state"] == "held"
    given(store, 2, "2027-02-03T09:30:00+08:00", subject="S-005", as_of="2027-02-03T10:00:00+08:00")
    # Cohort 3 (high) is above the level resumed at; the expansion at low needs cohort 1 safe again.
    with pytest.raises(DosingError, match=r"cohort 1 \(low\) was reviewed unsafe"):
        ledger.enroll(
            store, enrollment(subject="S-009", anchor=date(2027, 2, 4), as_of="2027-02-04T00:30:00+00:00")
        )
    _review(store, 1, True, date(2027, 2, 4), reason="re-review after the DSMB's causality assessment")
    slot = ledger.enroll(
        store, enrollment(subject="S-009", anchor=date(2027, 2, 5), as_of="2027-02-05T00:30:00+00:00")
    )
    assert (slot.arm, slot.cohort) == ("low", 4)
    with pytest.raises(DosingError) as nothing:
        _decide(store, "terminate", None, date(2027, 2, 6))
    assert nothing.value.field == "decide" and "not on a safety hold" in nothing.value.message


def test_terminate_stops_the_study_for_good(store: Store) -> None:
    _issue_9_scenario(store)
    _decide(store, "terminate", None, date(2027, 2, 3), reason="record: the study will be terminated")
    hold = ledger.study_hold(store, PROTOCOL)
    assert hold.state == "terminated"
    with pytest.raises(HardStop, match="is terminated"):
        given(store, 2, "2027-02-03T09:30:00+08:00", subject="S-005", as_of="2027-02-03T10:00:00+08:00")
    with pytest.raises(HardStop, match="is terminated"):
        ledger.enroll(
            store, enrollment(subject="S-009", anchor=date(2027, 2, 4), as_of="2027-02-04T00:30:00+00:00")
        )
    # A later unsafe finding does not reopen anything either.
    _review(store, 2, False, date(2027, 2, 5), reason="late SAE")
    assert ledger.study_hold(store, PROTOCOL).state == "terminated"


def test_a_review_waits_for_every_members_safety_window_after_a_dose_given(store: Store) -> None:
    for n in range(1, 5):
        ledger.enroll(store, enrollment(subject=f"S-{n:03d}"))
    with pytest.raises(DosingError) as undosed:
        _review(store, 1, True, date(2026, 12, 31))
    assert undosed.value.field == "safe" and "no member has a dose recorded as given" in undosed.value.message
    for n in range(1, 4):
        given(store, 1, "2026-12-01T09:30:00+08:00", subject=f"S-{n:03d}")
    with pytest.raises(DosingError) as waiting:
        _review(store, 1, False, date(2026, 12, 3))
    assert (
        waiting.value.field == "reviewed on"
        and "no dose recorded as given yet for S-004" in waiting.value.message
    )
    given(store, 1, "2026-12-02T09:30:00+08:00", subject="S-004", as_of="2026-12-02T10:00:00+08:00")
    with pytest.raises(DosingError, match="its safety window ends on 2027-01-01"):
        _review(store, 1, True, date(2026, 12, 31))
    assert _count(store, t.CohortReview) == 0
    early = _review(store, 1, False, date(2026, 12, 3), reason="SAE in S-001 on day 3")
    entry = ledger.audit_trail(store)[-1]
    assert (entry.action, entry.entity_id, entry.reason) == ("cohort_review", early, "SAE in S-001 on day 3")
    assert entry.after is not None and entry.after["early"] is True
    with pytest.raises(DosingError) as twice:
        _review(store, 1, True, date(2027, 1, 1))
    assert twice.value.field == "review" and f"(review {early}); give --reason" in twice.value.message
    later = _review(store, 1, True, date(2027, 1, 1), reason="causality: unrelated")
    assert ledger.audit_trail(store)[-1].after["supersedes"] == early  # type: ignore[index]
    assert later > early
    # The superseding safe review does not lift the hold: only a decision does.
    assert ledger.study_hold(store, PROTOCOL).state == "held"


def test_a_review_dated_in_the_future_is_refused(store: Store) -> None:
    _cohort(store, 1, date(2026, 12, 1))
    request = CohortReviewRequest(
        protocol_id=PROTOCOL, cohort=1, safe=True, reviewed_on=date(2027, 1, 2), actor="dsmb",
        as_of=at("2026-12-31T04:00:00+00:00"),
    )  # fmt: skip
    with pytest.raises(DosingError) as future:
        ledger.review_cohort(store, request)
    assert future.value.field == "reviewed on"


def test_a_study_without_stopping_rules_is_never_held_and_has_no_decision(store: Store) -> None:
    assert ledger.study_hold(store, "NCT05871463").state == "running"
    with pytest.raises(DosingError) as refused:
        ledger.decide_hold(
            store,
            SafetyDecisionRequest(
                protocol_id="NCT05871463",
                action="terminate",
                reason="x",
                decided_on=date(2026, 12, 1),
                actor="pi",
                as_of=at("2026-12-02T00:00:00+00:00"),
            ),
        )
    assert refused.value.field == "protocol"


def test_safety_decisions_refuse_update_and_delete(store: Store) -> None:
    _issue_9_scenario(store)
    _decide(store, "resume", "low", date(2027, 2, 3))
    for statement in ("UPDATE safety_decisions SET level = 'high'", "DELETE FROM safety_decisions"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
    assert ledger.study_hold(store, PROTOCOL).level_cap == "low"
