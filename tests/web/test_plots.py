"""Swimmer plots: a given dose sits on the site's calendar day; the SVG is text a reader can search."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dosing.status import DoseState, DoseStatus
from dosing.store.models import DoseView, GivenView
from dosing.web.plots import _event_day
from tests.web.conftest import World


def _dose(state: DoseState, given_at: datetime | None) -> DoseView:
    given = GivenView.model_construct(started_at=given_at) if given_at else None
    return DoseView.model_construct(
        sequence=1,
        target_date=date(2026, 12, 4),
        earliest=date(2026, 12, 4),
        latest=date(2026, 12, 5),
        status=DoseStatus(state=state),
        given=given,
    )


def test_a_dose_given_early_morning_in_shanghai_is_on_the_local_day() -> None:
    # 07:00 in Shanghai is 23:00 UTC the day before (the store gives instants back in UTC).
    given = datetime.fromisoformat("2026-12-04T07:00+08:00").astimezone(UTC)
    assert _event_day(_dose(DoseState.GIVEN_ON_TIME, given), "Asia/Shanghai") == date(2026, 12, 4)


def test_a_missed_dose_sits_on_the_last_day_of_its_window() -> None:
    assert _event_day(_dose(DoseState.MISSED, None), "Asia/Shanghai") == date(2026, 12, 5)
    assert _event_day(_dose(DoseState.UPCOMING, None), "Asia/Shanghai") == date(2026, 12, 4)


def test_a_drawn_plot_is_served_again_equal_to_a_fresh_drawing_and_a_changed_view_is_redrawn(
    world: World,
) -> None:
    from dosing.store import ledger
    from dosing.web import plots

    as_of = world.clock.now()
    view = ledger.subject_view(world.store, "S-001", as_of)
    views = ledger.site_views(world.store, None, None, None, as_of)
    plots._DRAWN.clear()
    first = plots.subject_swimmer(view)
    assert first == plots._draw_subject(view) and plots.subject_swimmer(view) is first  # from the cache
    assert plots.study_swimmer(views) == plots._draw_study(views)
    assert plots.study_swimmer(views) is plots.study_swimmer(views)
    # A week later the statuses differ: another view, drawn afresh (not the cached bytes).
    later = ledger.subject_view(world.store, "S-001", as_of + timedelta(days=7))
    assert later != view
    assert plots.subject_swimmer(later) == plots._draw_subject(later) != first
