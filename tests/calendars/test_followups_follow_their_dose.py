"""The 24 h safety check after an infusion follows the infusion as recorded, read back by ical.js.

NCT04822922: "AE and SAE before and after the infusion will be observed"; the check is 24 h after
each infusion. A nurse planning the next day's shift needs it at the time the infusion really began,
and not at all (published as cancelled) when the infusion was skipped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from dosing.store import ledger, open_store
from dosing.store.models import EnrollmentRequest, GivenRequest, SkipRequest
from dosing.units import Weight
from tests.calendars.conftest import Reader
from tests.dosing_cli import invoke_signed_in
from tests.store.conftest import register_lots


def test_safety_checks_follow_the_given_infusion_and_are_cancelled_with_a_skipped_one(
    tmp_path: Path, ical_js: Reader
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    register_lots(store, "L123")
    ledger.enroll(
        store,
        EnrollmentRequest(
            actor="coordinator",
            as_of=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
            protocol_id="NCT04822922",
            subject_code="S-001",
            arm="low",
            weight=Weight.kg(62),
            anchor=date(2026, 12, 1),
        ),
    )
    # Infusion 1 began at 13:45 Shanghai time (05:45 UTC) instead of the planned 09:00.
    ledger.record_given(
        store,
        GivenRequest(
            actor="nurse-a",
            as_of=datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
            subject_code="S-001",
            sequence=1,
            started_at=datetime(2026, 12, 1, 5, 45, tzinfo=UTC),
            lot="L123",
        ),
    )
    ledger.record_skipped(
        store,
        SkipRequest(
            actor="nurse-b",
            as_of=datetime(2026, 12, 4, 0, 30, tzinfo=UTC),
            subject_code="S-001",
            sequence=2,
            reason="held: fever",
        ),
    )
    store.dispose()

    out = tmp_path / "S-001.ics"
    result = invoke_signed_in(
        url, ["calendar", "S-001", "--as-of", "2026-12-04T12:00:00+08:00", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    events = ical_js(out.read_bytes())["events"]
    checks = sorted(
        (e for e in events if "Infusion safety check" in e["summary"]), key=lambda e: e["start"]["utc"]
    )
    after_first, after_second = checks[0], checks[1]
    assert after_first["start"]["local"] == "2026-12-02T13:45:00"
    assert after_first["status"] == "CONFIRMED" and after_first["sequence"] >= 1
    assert after_second["status"] == "CANCELLED"
    assert after_second["summary"].startswith("[cancelled] ")
    assert after_second["sequence"] >= 1
    # The other two checks are untouched: 24 h after the planned 09:00 starts.
    assert [c["start"]["local"] for c in checks[2:]] == ["2026-12-08T09:00:00", "2026-12-11T09:00:00"]
    assert all(c["status"] == "CONFIRMED" and c["sequence"] == 0 for c in checks[2:])
