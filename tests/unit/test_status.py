"""Every status a planned dose can have, on the site's local calendar (NCT04822922 infusion 2: day 4,
window 4-5 December 2026)."""

from datetime import UTC, date, datetime

import pytest

from dosing.errors import DosingError
from dosing.status import DoseRecord, DoseState, DoseStatus, DoseWindow, dose_status, local_date

WINDOW = DoseWindow(target_date=date(2026, 12, 4), earliest=date(2026, 12, 4), latest=date(2026, 12, 5))


def given(day, **extra):
    return DoseRecord(kind="given", local_date=day, **extra)


def test_before_the_window_opens_the_dose_is_upcoming():
    assert dose_status(WINDOW, None, date(2026, 12, 3)) == DoseStatus(state=DoseState.UPCOMING)


@pytest.mark.parametrize("today", [date(2026, 12, 4), date(2026, 12, 5)])
def test_from_the_first_to_the_last_day_of_the_window_it_is_open(today):
    assert dose_status(WINDOW, None, today).state is DoseState.WINDOW_OPEN


@pytest.mark.parametrize(("today", "days_late"), [(date(2026, 12, 6), 1), (date(2026, 12, 15), 10)])
def test_nothing_recorded_after_the_window_closed_is_missed_with_days_late(today, days_late):
    status = dose_status(WINDOW, None, today)
    assert status == DoseStatus(state=DoseState.MISSED, days_late=days_late)
    assert status.state.needs_attention


@pytest.mark.parametrize("day", [date(2026, 12, 4), date(2026, 12, 5)])
def test_given_within_the_window_is_on_time(day):
    status = dose_status(WINDOW, given(day), date(2026, 12, 20))
    assert status == DoseStatus(state=DoseState.GIVEN_ON_TIME)
    assert not status.state.needs_attention


def test_given_after_the_window_is_late_by_days_past_its_last_day():
    status = dose_status(WINDOW, given(date(2026, 12, 8)), date(2026, 12, 20))
    assert status == DoseStatus(state=DoseState.GIVEN_LATE, days_late=3)
    assert status.state.needs_attention


def test_given_before_the_window_is_early_by_days_before_its_first_day():
    status = dose_status(WINDOW, given(date(2026, 12, 2)), date(2026, 12, 20))
    assert status == DoseStatus(state=DoseState.GIVEN_EARLY, days_early=2)


def test_a_partial_dose_in_the_window_is_partial_with_its_reason():
    record = given(date(2026, 12, 4), partial=True, reason="infusion stopped: rigors")
    assert dose_status(WINDOW, record, date(2026, 12, 4)) == DoseStatus(
        state=DoseState.PARTIAL, reason="infusion stopped: rigors"
    )


def test_a_partial_dose_given_late_is_late_and_says_partial():
    status = dose_status(WINDOW, given(date(2026, 12, 7), partial=True), date(2026, 12, 7))
    assert status == DoseStatus(state=DoseState.GIVEN_LATE, days_late=2, reason="partial dose")


def test_a_skipped_dose_is_skipped_with_its_reason_even_after_the_window():
    record = DoseRecord(kind="skipped", local_date=date(2026, 12, 4), reason="platelets < 50 x10^9/L")
    status = dose_status(WINDOW, record, date(2026, 12, 30))
    assert status == DoseStatus(state=DoseState.SKIPPED, reason="platelets < 50 x10^9/L")
    assert not status.state.needs_attention


def test_a_dose_that_does_not_apply_is_not_applicable_whatever_the_date():
    assert dose_status(WINDOW, None, date(2026, 12, 30), applicable=False).state is DoseState.NOT_APPLICABLE
    assert dose_status(WINDOW, given(date(2026, 12, 4)), date(2026, 12, 4), applicable=False).state is (
        DoseState.NOT_APPLICABLE
    )


def test_as_of_is_the_site_local_day_of_an_instant():
    # 16:30 UTC on 5 December is 00:30 on 6 December in Shanghai: the window has closed there.
    moment = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
    assert local_date(moment, "Asia/Shanghai") == date(2026, 12, 6)
    assert dose_status(WINDOW, None, local_date(moment, "Asia/Shanghai")).state is DoseState.MISSED
    assert dose_status(WINDOW, None, local_date(moment, "Europe/London")).state is DoseState.WINDOW_OPEN


def test_as_of_without_an_offset_is_refused():
    with pytest.raises(DosingError) as refused:
        local_date(datetime(2026, 12, 5, 16, 30), "Asia/Shanghai")
    assert refused.value.field == "as of"
