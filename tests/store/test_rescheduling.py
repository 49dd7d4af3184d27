"""Rescheduling in the ledger is a function of the recorded facts (issue 9): applying it again writes
nothing, a preview is exactly what apply writes, and the request cannot contradict the record."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dosing.errors import DosingError
from dosing.protocol import ReschedulePolicy
from dosing.store import Store, ledger, open_store
from dosing.store import tables as t
from dosing.store.models import RescheduleRequest
from tests.store.conftest import at, enrollment
from tests.store.test_ledger import given


def _request(sequence: int, subject: str = "S-001", **extra: object) -> RescheduleRequest:
    return RescheduleRequest(
        subject_code=subject, sequence=sequence, actor="coord", as_of=at("2026-12-20T00:00:00+00:00"), **extra
    )  # type: ignore[arg-type]


def _reschedule_rows(store: Store) -> int:
    with store.session() as session:
        return int(
            session.scalars(
                select(func.count())
                .select_from(t.AdministrationEvent)
                .where(t.AdministrationEvent.kind == "reschedule")  # type: ignore[arg-type]
            ).one()
        )


def _targets(store: Store, subject: str = "S-001") -> list[date]:
    return [d.target_date for d in ledger.subject_view(store, subject, at("2026-12-20T00:00:00+00:00")).doses]


def test_issue_9_the_same_reschedule_applied_three_times_moves_the_doses_once(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 1, "2026-12-01T09:00:00+08:00")
    given(store, 2, "2026-12-06T10:00:00+08:00", as_of="2026-12-06T11:00:00+08:00")
    first = ledger.reschedule(store, _request(2, reason="bed"))
    assert first.applied and [c.sequence for c in first.changes] == [3, 4]
    rows = _reschedule_rows(store)
    for _ in range(2):
        again = ledger.reschedule(store, _request(2, reason="bed"))
        assert again.changes == [] and not again.applied and again.audit_id is None
    assert _reschedule_rows(store) == rows
    assert _targets(store) == [date(2026, 12, 1), date(2026, 12, 4), date(2026, 12, 9), date(2026, 12, 12)]


def test_a_reschedule_on_an_expected_day_is_redone_from_the_record_once_the_dose_is_given(
    store: Store,
) -> None:
    ledger.enroll(store, enrollment())
    ledger.reschedule(store, _request(2, given_on=date(2026, 12, 8), reason="expected late"))
    assert _targets(store)[2:] == [date(2026, 12, 11), date(2026, 12, 14)]
    given(store, 2, "2026-12-05T10:00:00+08:00", as_of="2026-12-05T11:00:00+08:00")
    redone = ledger.reschedule(store, _request(2, reason="given sooner than expected"))
    assert [(c.sequence, c.old_target, c.new_target) for c in redone.changes] == [
        (3, date(2026, 12, 11), date(2026, 12, 8)),
        (4, date(2026, 12, 14), date(2026, 12, 11)),
    ]


def test_a_day_other_than_the_recorded_one_is_refused_with_nothing_written(store: Store) -> None:
    ledger.enroll(store, enrollment())
    given(store, 2, "2026-12-06T10:00:00+08:00", as_of="2026-12-06T11:00:00+08:00")
    with pytest.raises(DosingError) as refused:
        ledger.reschedule(store, _request(2, given_on=date(2026, 12, 9), reason="typo"))
    assert refused.value.field == "given on"
    assert "recorded as given on 2026-12-06, not 2026-12-09" in refused.value.message
    assert _reschedule_rows(store) == 0


# --- preview equals apply ------------------------------------------------------------------------------

PROTOCOL_CASES = [("NCT04822922", "62 kg", 4), ("NCT05871463", "58 kg", 3)]


@settings(max_examples=12, deadline=None)
@hypothesis_given(
    case=st.sampled_from(PROTOCOL_CASES),
    data=st.data(),
)
def test_a_preview_is_exactly_what_apply_writes(case, data) -> None:  # type: ignore[no-untyped-def]
    protocol_id, weight, doses = case
    sequence = data.draw(st.integers(1, doses), label="dose")
    delay = data.draw(st.integers(-1, 9), label="delay")
    policy = data.draw(st.sampled_from([None, *ReschedulePolicy]), label="policy")
    with TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'ledger.db'}")
        try:
            ledger.enroll(
                store,
                enrollment(protocol_id, "S-001", weight=weight, as_of="2026-11-30T12:00:00+00:00"),
            )
            view = ledger.subject_view(store, "S-001", at("2026-11-30T12:00:00+00:00"))
            day = view.doses[sequence - 1].target_date + timedelta(days=delay)
            request = _request(sequence, given_on=day, policy=policy, reason="property")
            preview = ledger.preview_reschedule(store, request)
            applied = ledger.reschedule(store, request)
            assert applied.changes == preview.changes
            after = {
                d.sequence: d
                for d in ledger.subject_view(store, "S-001", at("2026-12-20T00:00:00+00:00")).doses
            }
            for change in preview.changes:
                dose = after[change.sequence]
                assert (dose.target_date, (dose.earliest, dose.latest)) == (
                    change.new_target,
                    change.new_window,
                )
            assert ledger.preview_reschedule(store, request).changes == []
        finally:
            store.dispose()


def test_a_skipped_dose_is_not_rescheduled_from(store: Store) -> None:
    from dosing.store.models import SkipRequest

    ledger.enroll(store, enrollment())
    ledger.record_skipped(
        store,
        SkipRequest(
            subject_code="S-001",
            sequence=2,
            reason="fever",
            actor="nurse",
            as_of=at("2026-12-04T02:00:00+00:00"),
        ),
    )
    with pytest.raises(DosingError) as refused:
        ledger.preview_reschedule(store, _request(2, given_on=date(2026, 12, 6)))
    assert refused.value.field == "dose" and "recorded as skipped" in refused.value.message
