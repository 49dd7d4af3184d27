"""The dose ledger against a real SQLite file and the PostgreSQL server (every test runs on both)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from dosing.allocation import allocation_sequence
from dosing.catalog import get_protocol
from dosing.errors import DosingError, HardStop
from dosing.protocol import ReschedulePolicy
from dosing.status import DoseState
from dosing.store import Store, ledger
from dosing.store import tables as t
from dosing.store.ledger import enrollment as ledger_enrollment
from dosing.store.ledger import overdue_queries, overdue_rows, recording
from dosing.store.ledger.dose_state import _DoseEvents
from dosing.store.models import (
    AuditView,
    CohortReviewRequest,
    CorrectionRequest,
    GivenRequest,
    RescheduleRequest,
    SkipRequest,
)
from dosing.units import Amount, AmountUnit, parse_dose_per_kg
from tests.store.conftest import at, enrollment

SHANGHAI = "+08:00"


def given(store: Store, sequence: int, when: str, *, subject: str = "S-001", **extra: object) -> int:
    return ledger.record_given(
        store,
        GivenRequest(
            subject_code=subject,
            sequence=sequence,
            started_at=at(when),
            actor="nurse-a",
            as_of=at(extra.pop("as_of", when)),  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        ),
    )


def dose_state(store: Store, sequence: int, as_of: str, subject: str = "S-001"):  # type: ignore[no-untyped-def]
    view = ledger.subject_view(store, subject, at(as_of))
    return next(d for d in view.doses if d.sequence == sequence)


def count(store: Store, table: type) -> int:
    with store.session() as session:
        return int(session.scalars(select(func.count()).select_from(table)).one())


# --- enrollment --------------------------------------------------------------------------------------


def test_enrollment_persists_the_plan_and_its_audit_entry(store: Store) -> None:
    result = ledger.enroll(store, enrollment())
    assert (result.arm, result.arm_source, result.cohort, result.cohort_position) == (
        "low",
        "escalation",
        1,
        1,
    )
    view = ledger.subject_view(store, "S-001", at("2026-11-30T00:00:00+00:00"))
    assert [d.target_date for d in view.doses] == [date(2026, 12, d) for d in (1, 4, 7, 10)]
    assert {d.ordered_dose for d in view.doses} == {Amount(value=Decimal("2.48E+7"), unit=AmountUnit.CELLS)}
    assert all(d.status.state is DoseState.UPCOMING for d in view.doses)
    assert view.doses[0].planned_start.isoformat() == "2026-12-01T09:00:00+08:00"
    assert len(view.assessments) == result.planned_assessments == 11
    [entry] = ledger.audit_trail(store, subject_code="S-001")
    assert (entry.action, entry.actor, entry.after["arm"], entry.after["planned_doses"]) == (
        "enroll",
        "coordinator",
        "low",
        4,
    )


def test_escalation_refuses_an_arm_other_than_the_open_cohort(store: Store) -> None:
    with pytest.raises(DosingError) as refused:
        ledger.enroll(store, enrollment(arm="high"))
    assert refused.value.field == "arm"
    assert "cohort 1 (low) is filling" in refused.value.message
    assert count(store, t.Subject) == 0


def test_a_withdrawn_study_is_refused_with_nothing_written(store: Store) -> None:
    before = {table: count(store, table) for table in t.TABLES}  # the fixture's registered lots only
    with pytest.raises(HardStop) as refused:
        ledger.enroll(store, enrollment("NCT05940610", arm="msc-ev", weight="60 kg"))
    assert refused.value.field == "study status"
    for table in t.TABLES:
        assert count(store, table) == before[table]
    assert before[t.Subject] == before[t.PlannedAdministration] == 0


def test_a_subject_code_is_enrolled_once(store: Store) -> None:
    ledger.enroll(store, enrollment())
    with pytest.raises(DosingError, match="already enrolled"):
        ledger.enroll(store, enrollment())
    assert count(store, t.Subject) == 1


def test_a_crash_between_enrollment_steps_leaves_no_partial_plan(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[int | None] = []

    def crash(session, protocol, subject, enrollment_row, plan):  # type: ignore[no-untyped-def]
        flushed.append(subject.id)  # the subject and enrollment rows exist in the transaction here
        raise RuntimeError("power cut between enrollment steps")

    monkeypatch.setattr(ledger_enrollment, "_insert_plan", crash)
    before = {table: count(store, table) for table in t.TABLES}  # the fixture's registered lots only
    with pytest.raises(RuntimeError, match="power cut"):
        ledger.enroll(store, enrollment())
    assert flushed and flushed[0] is not None
    for table in t.TABLES:
        assert count(store, table) == before[table]
    assert before[t.Subject] == before[t.Enrollment] == 0


# --- randomization -----------------------------------------------------------------------------------


def _randomized(subject: str, **extra: object):  # type: ignore[no-untyped-def]
    return enrollment(
        "MSC-ACLF-WEEKLY",
        subject,
        weight="70 kg",
        dose_per_kg=parse_dose_per_kg("5 x10^5 cells/kg"),
        **extra,
    )


def test_randomization_follows_the_recorded_seeded_list(store: Store) -> None:
    protocol = get_protocol("MSC-ACLF-WEEKLY")
    results = [ledger.enroll(store, _randomized(f"R-{n:03d}")) for n in range(1, 9)]
    assert [r.randomization_number for r in results] == list(range(1, 9))
    assert [r.arm for r in results] == allocation_sequence(protocol, 8)
    assert {r.arm_source for r in results} == {"randomization"}
    entry = ledger.audit_trail(store, subject_code="R-003")[0]
    assert entry.after["randomization_number"] == 3
    assert entry.after["allocation_seed"] == protocol.allocation.seed


def test_an_arm_on_a_randomized_study_needs_an_audited_override(store: Store) -> None:
    with pytest.raises(DosingError) as refused:
        ledger.enroll(store, _randomized("R-001", arm="msc"))
    assert refused.value.field == "arm" and "randomized" in refused.value.rule
    with pytest.raises(DosingError) as no_reason:
        ledger.enroll(store, _randomized("R-001", arm="msc", override_allocation=True))
    assert no_reason.value.field == "reason"
    assert count(store, t.Subject) == 0
    result = ledger.enroll(
        store, _randomized("R-001", arm="smt", override_allocation=True, reason="DSMB instruction 7")
    )
    assert (result.arm, result.arm_source, result.randomization_number) == ("smt", "override", None)
    entry = ledger.audit_trail(store, subject_code="R-001")[0]
    assert entry.reason == "DSMB instruction 7" and entry.after["arm_source"] == "override"
    # The override does not consume a number: the next subject gets number 1.
    assert ledger.enroll(store, _randomized("R-002")).randomization_number == 1


# --- status transitions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "state", "days_late"),
    [
        ("2026-12-03T23:59:00+08:00", DoseState.UPCOMING, None),
        ("2026-12-04T00:00:00+08:00", DoseState.WINDOW_OPEN, None),
        ("2026-12-05T23:59:00+08:00", DoseState.WINDOW_OPEN, None),
        ("2026-12-06T00:00:00+08:00", DoseState.MISSED, 1),
        ("2026-12-09T12:00:00+08:00", DoseState.MISSED, 4),
    ],
)
def test_status_of_an_unrecorded_dose_follows_the_local_window(
    store: Store, as_of: str, state: DoseState, days_late: int | None
) -> None:
    ledger.enroll(store, enrollment())
    dose = dose_state(store, 2, as_of)
    assert (dose.status.state, dose.status.days_late) == (state, days_late)


@pytest.mark.parametrize(
    ("started", "state", "late", "early"),
    [
        ("2026-12-04T10:30:00+08:00", DoseState.GIVEN_ON_TIME, None, None),
        ("2026-12-05T23:30:00+08:00", DoseState.GIVEN_ON_TIME, None, None),
        ("2026-12-03T10:30:00+08:00", DoseState.GIVEN_EARLY, None, 1),
        ("2026-12-07T10:30:00+08:00", DoseState.GIVEN_LATE, 2, None),
        # 17:30 UTC on the 5th is already the 6th in Shanghai: late by the site's calendar.
        ("2026-12-05T17:30:00+00:00", DoseState.GIVEN_LATE, 1, None),
    ],
)
def test_status_of_a_given_dose(
    store: Store, started: str, state: DoseState, late: int | None, early: int | None
) -> None:
    ledger.enroll(store, enrollment())
    given(store, 2, started, as_of="2026-12-08T00:00:00+08:00")
    dose = dose_state(store, 2, "2026-12-20T00:00:00+08:00")
    assert (dose.status.state, dose.status.days_late, dose.status.days_early) == (state, late, early)
    assert dose.given is not None and dose.given.given_by == "nurse-a"


def test_a_smaller_amount_said_partial_is_a_partial_dose(store: Store) -> None:
    ledger.enroll(store, enrollment())
    smaller = Amount(value=Decimal("1.5E+7"), unit=AmountUnit.CELLS)
    with pytest.raises(DosingError, match=r"below the order .*\(--partial\)"):
        given(store, 1, "2026-12-01T09:10:00+08:00", amount=smaller)
    given(
        store,
        1,
        "2026-12-01T09:10:00+08:00",
        amount=smaller,
        partial=True,
        infusion_reaction="chills at 40 mL, infusion stopped",
    )
    dose = dose_state(store, 1, "2026-12-02T00:00:00+08:00")
    assert dose.status.state is DoseState.PARTIAL
    assert dose.given is not None and dose.given.partial
    assert dose.given.amount == Amount(value=Decimal("1.5E+7"), unit=AmountUnit.CELLS)


def test_a_skipped_dose_shows_its_reason_and_counts_as_a_revision(store: Store) -> None:
    ledger.enroll(store, enrollment())
    ledger.record_skipped(
        store,
        SkipRequest(
            subject_code="S-001",
            sequence=3,
            reason="adverse event",
            actor="dr-b",
            as_of=at("2026-12-06T08:00:00+08:00"),
        ),
    )
    dose = dose_state(store, 3, "2026-12-20T00:00:00+08:00")
    assert (dose.status.state, dose.status.reason, dose.revision) == (DoseState.SKIPPED, "adverse event", 1)
    assert dose.revised_at == at("2026-12-06T00:00:00+00:00")


def test_a_control_arm_without_product_shows_doses_not_applicable(store: Store) -> None:
    ledger.enroll(store, _randomized("R-001", arm="smt", override_allocation=True, reason="test"))
    view = ledger.subject_view(store, "R-001", at("2026-12-20T00:00:00+08:00"))
    assert len(view.doses) == 4
    assert {d.status.state for d in view.doses} == {DoseState.NOT_APPLICABLE}
    assert ledger.overdue(store, at("2027-06-01T00:00:00+00:00")) == []
    with pytest.raises(DosingError, match="no planned dose"):
        given(store, 1, "2026-12-01T09:00:00+08:00", subject="R-001")


# --- refusals of double recording --------------------------------------------------------------------


def test_recording_the_same_dose_twice_is_refused(store: Store) -> None:
    ledger.enroll(store, enrollment())
    first = given(store, 2, "2026-12-04T10:30:00+08:00", lot="L123")
    with pytest.raises(DosingError) as refused:
        given(store, 2, "2026-12-04T10:35:00+08:00", lot="L123")
    assert refused.value.field == "dose"
    assert f"record {first}" in refused.value.message and "already recorded" in refused.value.message
    with pytest.raises(DosingError, match="already recorded"):
        ledger.record_skipped(
            store,
            SkipRequest(subject_code="S-001", sequence=2, reason="held", actor="x", as_of=at("2026-12-05")),
        )
    with store.session() as session:
        assert session.scalars(select(func.count()).where(t.AdministrationEvent.kind == "given")).one() == 1


def test_the_database_itself_refuses_a_second_outcome_in_the_same_slot(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 2, "2026-12-04T10:30:00+08:00")
    with pytest.raises(DBAPIError), store.transaction() as session:
        row = session.scalars(select(t.AdministrationEvent)).one()
        session.execute(
            t.AdministrationEvent.__table__.insert().values(  # type: ignore[attr-defined]
                planned_id=row.planned_id,
                subject_id=row.subject_id,
                kind="given",
                slot=0,
                partial=False,
                recorded_at=row.recorded_at,
                recorded_by="sneaky",
            )
        )


def test_recording_in_the_future_is_refused(store: Store) -> None:
    ledger.enroll(store, enrollment())
    with pytest.raises(DosingError) as refused:
        given(store, 2, "2026-12-04T10:30:00+08:00", as_of="2026-12-04T09:00:00+08:00")
    assert refused.value.field == "at"


# --- corrections and the audit trail -----------------------------------------------------------------


def test_a_correction_is_a_new_record_that_names_the_old_one_and_why(store: Store) -> None:
    ledger.enroll(store, enrollment())
    first = given(store, 2, "2026-12-04T10:30:00+08:00", lot="L123")
    fixed = ledger.correct(
        store,
        CorrectionRequest(
            subject_code="S-001",
            sequence=2,
            reason="lot number mistyped",
            lot="L124",
            actor="nurse-b",
            as_of=at("2026-12-04T12:00:00+08:00"),
        ),
    )
    dose = dose_state(store, 2, "2026-12-05T00:00:00+08:00")
    assert dose.given is not None
    assert (dose.given.record_id, dose.given.lot, dose.given.started_at) == (
        fixed,
        "L124",
        at("2026-12-04T02:30:00"),
    )
    assert dose.revision == 1
    with store.session() as session:
        rows = session.scalars(select(t.AdministrationEvent).order_by(t.AdministrationEvent.id)).all()
    assert [(r.kind, r.corrects_id, r.lot) for r in rows] == [
        ("given", None, "L123"),
        ("correction", first, "L124"),
    ]
    entry = ledger.audit_trail(store, subject_code="S-001")[-1]
    assert (entry.action, entry.actor, entry.reason) == ("correct", "nurse-b", "lot number mistyped")
    assert entry.before is not None and entry.after is not None
    assert (entry.before["lot"], entry.after["lot"], entry.before["id"]) == ("L123", "L124", first)


def test_corrections_chain_and_a_stale_record_id_is_refused(store: Store) -> None:
    ledger.enroll(store, enrollment())
    first = given(store, 2, "2026-12-04T10:30:00+08:00")
    request = dict(subject_code="S-001", sequence=2, actor="x", as_of=at("2026-12-04T12:00:00+08:00"))
    second = ledger.correct(
        store, CorrectionRequest(reason="time", started_at=at("2026-12-04T11:00:00+08:00"), **request)
    )
    with pytest.raises(DosingError) as stale:
        ledger.correct(store, CorrectionRequest(reason="again", record_id=first, **request))
    assert stale.value.field == "record" and f"record {second} is" in stale.value.message
    third = ledger.correct(
        store,
        CorrectionRequest(
            reason="wrong day",
            record_id=second,
            started_at=at("2026-12-06T09:00:00+08:00"),
            **request | {"as_of": at("2026-12-06T10:00:00+08:00")},
        ),
    )
    dose = dose_state(store, 2, "2026-12-07T00:00:00+08:00")
    assert dose.given is not None and dose.given.record_id == third
    assert (dose.status.state, dose.status.days_late) == (DoseState.GIVEN_LATE, 1)
    assert [
        row.state for row in ledger.overdue(store, at("2026-12-07T00:00:00+08:00")) if row.sequence == 2
    ] == ["given_late"]


def test_voiding_a_record_entered_in_error_lets_the_dose_be_recorded_again(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 2, "2026-12-04T10:30:00+08:00")
    ledger.correct(
        store,
        CorrectionRequest(
            subject_code="S-001",
            sequence=2,
            reason="wrong subject",
            becomes="void",
            actor="x",
            as_of=at("2026-12-04T11:00:00+08:00"),
        ),
    )
    assert dose_state(store, 2, "2026-12-04T12:00:00+08:00").status.state is DoseState.WINDOW_OPEN
    again = given(store, 2, "2026-12-04T13:00:00+08:00")
    dose = dose_state(store, 2, "2026-12-04T14:00:00+08:00")
    assert dose.given is not None and dose.given.record_id == again
    with pytest.raises(DosingError, match="no record to correct"):
        ledger.correct(
            store,
            CorrectionRequest(
                subject_code="S-001", sequence=3, reason="x", actor="x", as_of=at("2026-12-04T14:00:00+08:00")
            ),
        )


def test_a_given_record_corrected_to_skipped(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 3, "2026-12-07T10:00:00+08:00")
    ledger.correct(
        store,
        CorrectionRequest(
            subject_code="S-001",
            sequence=3,
            reason="bag not hung",
            becomes="skipped",
            skip_reason="product unavailable",
            actor="x",
            as_of=at("2026-12-07T12:00:00+08:00"),
        ),
    )
    dose = dose_state(store, 3, "2026-12-09T00:00:00+08:00")
    assert (dose.status.state, dose.status.reason, dose.given) == (
        DoseState.SKIPPED,
        "product unavailable",
        None,
    )


def test_ledger_tables_refuse_update_and_delete(store: Store) -> None:
    ledger.enroll(store, enrollment())
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM planned_administrations"):
        with pytest.raises(DBAPIError, match="append-only"), store.transaction() as session:
            session.execute(text(statement))
    assert count(store, t.PlannedAdministration) == 4


# --- rescheduling ------------------------------------------------------------------------------------


def _reschedule(store: Store, sequence: int, *, apply: bool, subject: str = "S-001", **extra: object):  # type: ignore[no-untyped-def]
    request = RescheduleRequest(
        subject_code=subject, sequence=sequence, actor="coord", as_of=at("2026-12-20T00:00:00+00:00"), **extra
    )  # type: ignore[arg-type]
    return ledger.reschedule(store, request) if apply else ledger.preview_reschedule(store, request)


def test_shift_later_moves_later_doses_by_the_delay_after_a_preview(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 2, "2026-12-06T10:00:00+08:00", as_of="2026-12-06T11:00:00+08:00")
    preview = _reschedule(store, 2, apply=False)
    assert (preview.policy, preview.delay_days, preview.applied) == (ReschedulePolicy.SHIFT_LATER, 2, False)
    assert [(c.sequence, c.new_target, c.new_window) for c in preview.changes] == [
        (3, date(2026, 12, 9), (date(2026, 12, 9), date(2026, 12, 10))),
        (4, date(2026, 12, 12), (date(2026, 12, 12), date(2026, 12, 13))),
    ]
    assert dose_state(store, 3, "2026-12-08T00:00:00+08:00").target_date == date(
        2026, 12, 7
    )  # preview wrote nothing
    applied = _reschedule(store, 2, apply=True, reason="dose 2 delayed by bed availability")
    assert applied.applied and applied.audit_id is not None
    view = ledger.subject_view(store, "S-001", at("2026-12-09T12:00:00+08:00"))
    third, fourth = view.doses[2], view.doses[3]
    assert (third.target_date, third.status.state, third.revision) == (
        date(2026, 12, 9),
        DoseState.WINDOW_OPEN,
        1,
    )
    assert third.planned_start.isoformat() == "2026-12-09T09:00:00+08:00"
    assert (fourth.target_date, fourth.revision) == (date(2026, 12, 12), 1)
    check = next(a for a in view.assessments if a.key.endswith("/dose-3"))
    # The 24 h check follows its dose; its revision is twice the dose's (plus one once given).
    assert (check.due.isoformat(), check.revision) == ("2026-12-10T09:00:00+08:00", 2)
    entry = ledger.audit_trail(store, subject_code="S-001")[-1]
    assert (entry.action, entry.reason) == ("reschedule", "dose 2 delayed by bed availability")
    assert (
        entry.before["doses"][0]["target"] == "2026-12-07"
        and entry.after["doses"][0]["target"] == "2026-12-09"
    )
    # On the 9th only doses 1 (never given) and 2 (late) need attention: the third dose's window moved.
    assert [r.sequence for r in ledger.overdue(store, at("2026-12-09T12:00:00+08:00"))] == [1, 2]


def test_keep_original_moves_only_what_the_minimum_interval_needs_and_another_policy_needs_a_reason(
    store: Store,
) -> None:
    ledger.enroll(store, enrollment())
    given(store, 2, "2026-12-06T10:00:00+08:00", as_of="2026-12-06T11:00:00+08:00")
    with pytest.raises(DosingError) as refused:
        _reschedule(store, 2, apply=True, policy=ReschedulePolicy.KEEP_ORIGINAL)
    assert refused.value.field == "policy"
    kept = _reschedule(store, 2, apply=True, policy=ReschedulePolicy.KEEP_ORIGINAL, reason="PI decision")
    assert kept.policy is ReschedulePolicy.KEEP_ORIGINAL
    # Dose 2 on the 6th: dose 3 on the 7th would be 1 day later; the 3-day minimum puts it on the 9th.
    assert [(c.sequence, c.new_target) for c in kept.changes] == [
        (3, date(2026, 12, 9)),
        (4, date(2026, 12, 12)),
    ]
    assert dose_state(store, 3, "2026-12-06T12:00:00+08:00").target_date == date(2026, 12, 9)


def test_clamp_to_window_keeps_later_doses_inside_their_own_windows(store: Store) -> None:
    ledger.enroll(
        store, enrollment("NCT05871463", "E-001", anchor=date(2026, 12, 1), as_of="2026-11-30T12:00:00+00:00")
    )
    tehran = "+03:30"
    given(store, 1, f"2026-12-02T10:00:00{tehran}", subject="E-001", as_of=f"2026-12-02T11:00:00{tehran}")
    preview = _reschedule(store, 1, apply=True, subject="E-001")
    assert preview.policy is ReschedulePolicy.CLAMP_TO_WINDOW and preview.delay_days == 1
    # Dose 2 (day 8, window 7-9) moves one day to the 9th; its window ends where it did, and opens no
    # sooner than the 6-day minimum interval after the dose before.
    assert [(c.sequence, c.new_target, c.new_window) for c in preview.changes] == [
        (2, date(2026, 12, 9), (date(2026, 12, 8), date(2026, 12, 9))),
        (3, date(2026, 12, 16), (date(2026, 12, 15), date(2026, 12, 16))),
    ]
    view = ledger.subject_view(store, "E-001", at(f"2026-12-09T00:00:00{tehran}"))
    assert view.doses[1].target_date == date(2026, 12, 9) and view.doses[1].latest == date(2026, 12, 9)


def test_a_reschedule_without_a_recorded_day_needs_one(store: Store) -> None:
    ledger.enroll(store, enrollment())
    with pytest.raises(DosingError) as refused:
        _reschedule(store, 2, apply=False)
    assert refused.value.field == "given on"
    preview = _reschedule(store, 2, apply=False, given_on=date(2026, 12, 5))
    assert preview.delay_days == 1 and [c.sequence for c in preview.changes] == [3, 4]


# --- overdue and the sweep ---------------------------------------------------------------------------


def test_overdue_lists_missed_and_late_doses_oldest_first(store: Store) -> None:
    ledger.enroll(store, enrollment())
    ledger.enroll(
        store, enrollment(subject="S-002", anchor=date(2026, 12, 2), as_of="2026-12-01T01:00:00+00:00")
    )
    given(store, 1, "2026-12-01T09:00:00+08:00")
    given(store, 1, "2026-12-02T09:00:00+08:00", subject="S-002")
    given(store, 2, "2026-12-07T09:00:00+08:00", subject="S-002")  # window 5-6: 1 day late
    rows = ledger.overdue(store, at("2026-12-09T12:00:00+08:00"))
    assert [(r.subject_code, r.sequence, r.state, r.days_late) for r in rows] == [
        ("S-001", 2, "missed", 4),
        ("S-002", 2, "given_late", 1),
        ("S-001", 3, "missed", 1),
    ]
    assert rows[1].given_on == date(2026, 12, 7)


def test_sweep_reports_each_missed_dose_once(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 1, "2026-12-01T09:00:00+08:00")
    first = ledger.sweep_missed(store, at("2026-12-06T12:00:00+08:00"), "sweeper")
    assert [(m.sequence, m.days_late) for m in first] == [(2, 1)]
    assert ledger.sweep_missed(store, at("2026-12-06T13:00:00+08:00"), "sweeper") == []
    later = ledger.sweep_missed(store, at("2026-12-12T12:00:00+08:00"), "sweeper")
    assert [m.sequence for m in later] == [3, 4]
    missed = [e for e in ledger.audit_trail(store, subject_code="S-001") if e.action == "missed"]
    assert [e.after["dose"] for e in missed] == [2, 3, 4]


def late_entries(store: Store, subject: str = "S-001") -> list[AuditView]:
    return [e for e in ledger.audit_trail(store, subject_code=subject) if e.action == "dose_late"]


def test_sweep_audits_a_dose_given_late_once(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 1, "2026-12-01T09:00:00+08:00")
    given(store, 2, "2026-12-07T09:00:00+08:00")  # window ended on 2026-12-05
    swept = ledger.sweep_overdue(store, at("2026-12-08T12:00:00+08:00"), "sweeper")
    assert [(d.subject_code, d.sequence, d.given_on, d.days_late) for d in swept.late] == [
        ("S-001", 2, date(2026, 12, 7), 2)
    ]
    assert swept.missed == []  # dose 2 was given, late; dose 3's window is still open
    [entry] = late_entries(store)
    assert entry.id == swept.late[0].audit_id and entry.subject_code == "S-001"
    assert entry.after == {"dose": 2, "label": entry.after["label"], "latest": "2026-12-05",
                           "given_on": "2026-12-07", "days_late": 2}  # fmt: skip
    # A second sweep, the same day or later, adds nothing.
    assert ledger.sweep_overdue(store, at("2026-12-08T13:00:00+08:00"), "sweeper").late == []
    assert ledger.sweep_overdue(store, at("2026-12-20T12:00:00+08:00"), "sweeper").late == []
    assert len(late_entries(store)) == 1


def test_a_dose_voided_and_given_late_again_is_reported_once(store: Store) -> None:
    ledger.enroll(store, enrollment())
    ledger.enroll(
        store, enrollment(subject="S-002", anchor=date(2026, 12, 2), as_of="2026-12-01T01:00:00+00:00")
    )

    def void(subject: str, as_of: str) -> None:
        ledger.correct(store, CorrectionRequest(subject_code=subject, sequence=2, reason="wrong dose",
                                                becomes="void", actor="x", as_of=at(as_of)))  # fmt: skip

    # S-001: reported late, then voided and given late again.
    given(store, 2, "2026-12-07T09:00:00+08:00")
    assert [d.sequence for d in ledger.sweep_overdue(store, at("2026-12-08T12:00:00+08:00"), "s").late] == [2]
    void("S-001", "2026-12-08T13:00:00+08:00")
    given(store, 2, "2026-12-08T14:00:00+08:00", as_of="2026-12-08T15:00:00+08:00")
    # S-002: voided and given late again before any sweep saw it.
    given(store, 2, "2026-12-07T09:00:00+08:00", subject="S-002")
    void("S-002", "2026-12-07T10:00:00+08:00")
    given(store, 2, "2026-12-07T11:00:00+08:00", subject="S-002", as_of="2026-12-07T12:00:00+08:00")
    late = ledger.sweep_overdue(store, at("2026-12-09T12:00:00+08:00"), "s").late
    assert [(d.subject_code, d.sequence) for d in late] == [("S-002", 2)]
    assert ledger.sweep_overdue(store, at("2026-12-10T12:00:00+08:00"), "s").late == []
    assert len(late_entries(store)) == 1 and len(late_entries(store, "S-002")) == 1
    states = {
        (r.subject_code, r.sequence): r.state for r in ledger.overdue(store, at("2026-12-10T12:00:00+08:00"))
    }
    assert states[("S-001", 2)] == states[("S-002", 2)] == "given_late"


# --- escalation --------------------------------------------------------------------------------------


def test_escalation_opens_the_next_cohort_only_after_a_full_safety_window_and_a_safe_review(
    store: Store,
) -> None:
    for n in range(1, 5):
        assert ledger.enroll(store, enrollment(subject=f"S-00{n}")).cohort == 1
    with pytest.raises(DosingError) as refused:
        ledger.enroll(store, enrollment(subject="S-005"))
    assert refused.value.field == "arm" and "no first dose recorded" in refused.value.message
    for n in range(1, 5):
        given(store, 1, "2026-12-01T09:00:00+08:00", subject=f"S-00{n}")
    with pytest.raises(DosingError, match="safety window until 2026-12-31"):
        ledger.enroll(store, enrollment(subject="S-005", as_of="2026-12-30T00:00:00+00:00"))
    with pytest.raises(DosingError, match="no safety review"):
        ledger.enroll(store, enrollment(subject="S-005", as_of="2026-12-31T00:00:00+00:00"))
    review = CohortReviewRequest(
        protocol_id="NCT04822922",
        cohort=1,
        safe=True,
        reviewed_on=date(2026, 12, 30),
        actor="dsmb",
        as_of=at("2026-12-31T00:00:00+00:00"),
    )
    with pytest.raises(DosingError, match="an early review needs --reason"):
        ledger.review_cohort(store, review)
    ledger.review_cohort(store, review.model_copy(update={"reason": "interim look by the DSMB"}))
    with pytest.raises(DosingError, match="must cover the whole window"):
        ledger.enroll(store, enrollment(subject="S-005", as_of="2026-12-31T01:00:00+00:00"))
    final = review.model_copy(update={"reviewed_on": date(2026, 12, 31)})
    with pytest.raises(DosingError, match="give --reason to supersede it"):
        ledger.review_cohort(store, final)
    ledger.review_cohort(store, final.model_copy(update={"reason": "the review after the whole window"}))
    fifth = ledger.enroll(
        store, enrollment(subject="S-005", anchor=date(2027, 1, 2), as_of="2027-01-01T00:00:00+00:00")
    )
    assert (fifth.arm, fifth.cohort, fifth.cohort_position, fifth.arm_source) == (
        "middle",
        2,
        1,
        "escalation",
    )
    states = ledger.cohorts(store, "NCT04822922", at("2027-01-01T00:00:00+00:00"))
    assert [(s.cohort, s.arm, s.enrolled, s.open) for s in states] == [
        (1, "low", 4, False),
        (2, "middle", 1, True),
        (3, "high", 0, False),
        (4, None, 0, False),
    ]
    assert states[0].review == "safe"


def test_overdue_after_a_sweep_checkpoint_equals_the_full_search(store: Store) -> None:
    """The sweep's checkpoint only narrows the search: the answer is the full anti-join's, always."""
    ledger.enroll(store, enrollment())
    ledger.enroll(store, enrollment(subject="S-002", as_of="2026-12-01T01:00:00+00:00"))
    given(store, 1, "2026-12-01T09:00:00+08:00")
    ledger.sweep_missed(store, at("2026-12-06T12:00:00+08:00"), "sweeper")  # S-001/2, S-002/1, S-002/2
    # After the checkpoint: a missed dose is recorded late, another voided, a subject enrolled backdated,
    # a reschedule moves a window, and windows keep closing.
    given(store, 2, "2026-12-06T13:00:00+08:00", subject="S-002", as_of="2026-12-06T14:00:00+08:00")
    void = CorrectionRequest(
        subject_code="S-001", sequence=1, reason="wrong subject", becomes="void", actor="x",
        as_of=at("2026-12-06T15:00:00+08:00"),
    )  # fmt: skip
    ledger.correct(store, void)
    ledger.enroll(store, enrollment("NCT05871463", "E-001", weight="58 kg", anchor=date(2026, 11, 20),
                                    as_of="2026-12-06T08:00:00+00:00"))  # fmt: skip
    ledger.enroll(
        store, enrollment(subject="S-003", anchor=date(2026, 12, 2), as_of="2026-12-01T01:00:00+00:00")
    )
    given(store, 2, "2026-12-07T09:00:00+08:00", subject="S-003", as_of="2026-12-07T10:00:00+08:00")
    _reschedule(store, 2, apply=True, subject="S-003")
    with store.session() as session:
        assert overdue_queries._checkpoint(session) is not None
        for as_of in ("2026-12-02T12:00:00+08:00", "2026-12-06T12:00:00+08:00", "2026-12-20T12:00:00+08:00"):
            fast = [row for row, _ in overdue_rows._overdue(session, at(as_of))]
            full = [row for row, _ in overdue_rows._overdue(session, at(as_of), full=True)]
            assert fast == full and full
    rows = ledger.overdue(store, at("2026-12-09T12:00:00+08:00"))
    assert ("S-001", 1, "missed") in [
        (r.subject_code, r.sequence, r.state) for r in rows
    ]  # voided: missed again
    assert ("E-001", 1, "missed") in [(r.subject_code, r.sequence, r.state) for r in rows]  # backdated


def test_a_race_past_the_read_check_is_stopped_by_the_unique_slot(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force what two simultaneous writers can do on PostgreSQL: both pass the read check."""
    ledger.enroll(store, enrollment())
    first = given(store, 2, "2026-12-04T10:30:00+08:00")
    real_check = recording._refuse_if_recorded
    calls: list[int] = []

    def blind_first_time(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) > 1:
            real_check(*args, **kwargs)

    monkeypatch.setattr(recording, "_refuse_if_recorded", blind_first_time)
    monkeypatch.setattr(_DoseEvents, "next_slot", lambda self: 0)
    with pytest.raises(DosingError) as refused:
        given(store, 2, "2026-12-04T10:31:00+08:00")
    assert f"record {first}" in refused.value.message and "already recorded" in refused.value.message
    assert len(calls) == 2  # the insert failed on the constraint, then the refusal was read back
    assert count(store, t.AdministrationEvent) == 1


def test_site_views_select_subjects_by_site_and_dates(store: Store) -> None:
    ledger.enroll(store, enrollment())
    ledger.enroll(store, enrollment("NCT05871463", "E-001", weight="58 kg", anchor=date(2027, 3, 1),
                                    as_of="2027-02-20T08:00:00+00:00"))  # fmt: skip
    as_of = at("2026-12-01T00:00:00+00:00")
    assert [v.subject_code for v in ledger.site_views(store, None, None, None, as_of)] == ["E-001", "S-001"]
    assert [v.subject_code for v in ledger.site_views(store, "renji-shanghai", None, None, as_of)] == [
        "S-001"
    ]
    december = ledger.site_views(store, None, date(2026, 12, 1), date(2026, 12, 31), as_of)
    assert [v.subject_code for v in december] == ["S-001"]
    march = ledger.site_views(store, "rigld-tehran", date(2027, 3, 1), date(2027, 3, 31), as_of)
    assert [v.subject_code for v in march] == ["E-001"] and len(march[0].doses) == 3
    # An open-ended range (from a day on, or up to a day) reaches the calendar's limits safely.
    from_march = ledger.site_views(store, None, date(2027, 3, 1), None, as_of)
    assert [v.subject_code for v in from_march] == ["E-001", "S-001"]  # S-001's long-term follow-ups
    until_december = ledger.site_views(store, None, None, date(2026, 12, 31), as_of)
    assert [v.subject_code for v in until_december] == ["S-001"]


def test_two_corrections_of_the_same_record_keep_one(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger.enroll(store, enrollment())
    first = given(store, 2, "2026-12-04T10:30:00+08:00", lot="L1")
    request = CorrectionRequest(subject_code="S-001", sequence=2, reason="lot", lot="L2", actor="a",
                                as_of=at("2026-12-04T12:00:00+08:00"))  # fmt: skip
    ledger.correct(store, request)
    # The second writer read the dose before the first correction committed: it still sees record 1.
    with store.session() as session:
        stale = session.get(t.AdministrationEvent, first)
    monkeypatch.setattr(_DoseEvents, "tail", lambda self: (stale, "given"))
    with pytest.raises(DosingError) as refused:
        ledger.correct(store, request.model_copy(update={"lot": "L124", "actor": "b"}))
    assert refused.value.field == "record" and "corrected by someone else" in refused.value.message
    monkeypatch.undo()
    dose = dose_state(store, 2, "2026-12-05T00:00:00+08:00")
    assert dose.given is not None and dose.given.lot == "L2"


# --- lots: the chain of identity -------------------------------------------------------------------


def test_a_dose_from_an_unregistered_lot_is_refused_and_nothing_is_written(store: Store) -> None:
    ledger.enroll(store, enrollment())
    before = count(store, t.AdministrationEvent)
    with pytest.raises(DosingError) as refused:
        given(store, 1, "2026-12-01T10:30:00+08:00", lot="L999")
    assert refused.value.field == "lot"
    assert "registered in the pharmacy" in refused.value.rule
    assert count(store, t.AdministrationEvent) == before


def test_a_dose_from_an_expired_lot_is_refused(store: Store) -> None:
    from tests.store.conftest import register_lots

    register_lots(store, "L-OLD", expiry=date(2026, 11, 30))
    ledger.enroll(store, enrollment())
    with pytest.raises(DosingError) as refused:
        given(store, 1, "2026-12-01T10:30:00+08:00", lot="L-OLD")
    assert refused.value.field == "expiry"
    assert refused.value.rule == "lot not expired on the day of the dose"


def test_a_dose_from_another_products_lot_is_refused(store: Store) -> None:
    from tests.store.conftest import register_lots

    register_lots(store, "EV-1", product="MSC-EV")
    ledger.enroll(store, enrollment())
    with pytest.raises(DosingError) as refused:
        given(store, 1, "2026-12-01T10:30:00+08:00", lot="EV-1")
    assert refused.value.field in {"lot", "product"}


# --- follow-ups tied to a dose ---------------------------------------------------------------------


def _check_after(view, sequence: int):  # type: ignore[no-untyped-def]
    return next(a for a in view.assessments if a.administration_sequence == sequence)


def test_the_24_hour_check_is_due_24_hours_after_the_infusion_actually_started(store: Store) -> None:
    ledger.enroll(store, enrollment())
    planned = _check_after(ledger.subject_view(store, "S-001", at("2026-12-01T08:00:00+08:00")), 1)
    assert (planned.due.isoformat(), planned.revision, planned.cancelled) == (
        "2026-12-02T09:00:00+08:00",
        0,
        False,
    )
    given(store, 1, "2026-12-01T13:45:00+08:00", lot="L123")
    check = _check_after(ledger.subject_view(store, "S-001", at("2026-12-01T15:00:00+08:00")), 1)
    assert (check.due.isoformat(), check.revision, check.cancelled) == ("2026-12-02T13:45:00+08:00", 1, False)


def test_the_check_after_a_skipped_dose_is_cancelled_and_its_revision_never_goes_down(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 1, "2026-12-01T09:00:00+08:00", lot="L123")
    ledger.record_skipped(
        store,
        SkipRequest(
            subject_code="S-001",
            sequence=2,
            reason="held: fever",
            actor="nurse-a",
            as_of=at("2026-12-04T08:00:00+08:00"),
        ),
    )
    view = ledger.subject_view(store, "S-001", at("2026-12-04T09:00:00+08:00"))
    first, second = _check_after(view, 1), _check_after(view, 2)
    assert (first.cancelled, first.revision) == (False, 1)
    assert (second.cancelled, second.revision) == (True, 2)
    voided = ledger.correct(
        store,
        CorrectionRequest(
            subject_code="S-001",
            sequence=1,
            reason="entered on the wrong subject",
            becomes="void",
            actor="nurse-a",
            as_of=at("2026-12-04T10:00:00+08:00"),
        ),
    )
    assert voided
    after_void = _check_after(ledger.subject_view(store, "S-001", at("2026-12-04T11:00:00+08:00")), 1)
    assert after_void.due.isoformat() == "2026-12-02T09:00:00+08:00"
    assert after_void.revision > first.revision


def test_enrollment_does_not_depend_on_a_nominal_lot(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # 160 kg at the high dose is 1.92 x10^8 cells: 101.1 mL of the protocol's reference lot, more than
    # the 100 mL bag. That lot is only a planning figure; the real lot is chosen at preparation, so the
    # patient is enrolled with the ordered dose and the final volume, and no bag is computed yet.
    from dosing.store.ledger import enrollment as enrollment_module

    protocol = get_protocol("NCT04822922")
    single_level = protocol.model_copy(update={"escalation": None})
    monkeypatch.setattr(enrollment_module, "get_protocol", lambda _id: single_level)
    enrolled = ledger.enroll(store, enrollment(arm="high", weight="160 kg"))
    assert enrolled.planned_doses == 4
    dose = ledger.subject_view(store, "S-001", at("2026-12-01T01:00:00+00:00")).doses[0]
    assert dose.ordered_dose == Amount(value=Decimal("1.92E+8"), unit=AmountUnit.CELLS)
    assert dose.final_volume is not None and dose.final_volume.value == 100


def test_overdue_rows_of_a_total_course_say_what_each_subject_received_as_its_own_view_does(
    store: Store,
) -> None:
    # NCT05871463, 40 mg over three weeks: the overdue list reads every such subject's course in one
    # batch; each row must say what that subject's own view says.
    tehran = "+03:30"
    for number in (1, 2, 3):
        ledger.enroll(
            store,
            enrollment("NCT05871463", f"E-00{number}", weight="58 kg", anchor=date(2026, 12, 1),
                       as_of="2026-11-30T12:00:00+00:00"),
        )  # fmt: skip
    given(store, 1, f"2026-12-01T10:00:00{tehran}", subject="E-001", as_of=f"2026-12-01T11:00:00{tehran}")
    given(store, 1, f"2026-12-01T10:30:00{tehran}", subject="E-002", as_of=f"2026-12-01T11:00:00{tehran}")
    ledger.record_skipped(
        store,
        SkipRequest(subject_code="E-002", sequence=2, reason="held", actor="dr-b",
                    as_of=at(f"2026-12-07T08:00:00{tehran}")),
    )  # fmt: skip
    as_of = at(f"2026-12-20T12:00:00{tehran}")
    rows = ledger.overdue(store, as_of)
    assert {row.subject_code for row in rows} == {"E-001", "E-002", "E-003"}
    for row in rows:
        course = ledger.subject_view(store, row.subject_code, as_of).course
        assert course is not None and row.course == course.describe()
    courses = {row.subject_code: row.course for row in rows}
    assert courses["E-003"] == "0 mg of 40 mg delivered (40 mg forfeited)"
