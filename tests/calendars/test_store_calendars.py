"""Calendars from the dose ledger (a real SQLite file), through ``dosing calendar``, read by ical.js."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from calendars.events import plan_events
from calendars.views import subject_view_events
from dosing.catalog import get_protocol
from dosing.plan import PatientInputs, plan_patient
from dosing.store import Store, ledger, open_store
from dosing.store.models import EnrollmentRequest, GivenRequest, RescheduleRequest, SkipRequest
from dosing.units import Weight
from tests.calendars.conftest import Reader
from tests.dosing_cli import invoke_signed_in

ENROLLED_AT = datetime(2028, 2, 20, 7, 0, tzinfo=UTC)
TEHRAN_0900 = "05:30:00Z"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def store(database_url: str) -> Store:
    store = open_store(database_url)
    # NCT05871463 (Tehran, +03:30): exosome days 1, 8, 15 from 2028-02-27, over the leap day.
    for code, anchor in (("S-001", date(2028, 2, 27)), ("S-002", date(2028, 3, 20))):
        ledger.enroll(
            store,
            EnrollmentRequest(
                actor="coordinator",
                as_of=ENROLLED_AT,
                protocol_id="NCT05871463",
                subject_code=code,
                weight=Weight.kg(70),
                anchor=anchor,
            ),
        )
    return store


def _export(database_url: str, tmp_path: Path, *args: str) -> bytes:
    out = tmp_path / "out.ics"
    result = invoke_signed_in(database_url, ["calendar", *args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_subject_calendar_tracks_the_ledger(
    store: Store, database_url: str, tmp_path: Path, ical_js: Reader
) -> None:
    as_of = "--as-of=2028-02-26T12:00:00+00:00"
    before = _export(database_url, tmp_path, "S-001", as_of)
    assert _export(database_url, tmp_path, "S-001", as_of) == before, "regeneration must be byte-identical"
    planned = {e["uid"]: e for e in ical_js(before)["events"]}
    doses = [e for e in planned.values() if "Exosome infusion" in e["summary"]]
    assert [d["start"]["local"] for d in doses] == [
        "2028-02-27T09:00:00",
        "2028-03-05T09:00:00",
        "2028-03-12T09:00:00",
    ]
    assert all(d["start"]["utc"].endswith(TEHRAN_0900) for d in doses)

    # Dose 1 given; dose 2 given a day late (the later dose moves within its window); dose 3 skipped.
    recorded = datetime(2028, 2, 27, 8, 0, tzinfo=UTC)
    ledger.record_given(
        store,
        GivenRequest(
            actor="nurse",
            as_of=recorded,
            subject_code="S-001",
            sequence=1,
            started_at=datetime(2028, 2, 27, 6, 0, tzinfo=UTC),
        ),
    )
    late = datetime(2028, 3, 7, 6, 0, tzinfo=UTC)
    ledger.record_given(
        store, GivenRequest(actor="nurse", as_of=late, subject_code="S-001", sequence=2, started_at=late)
    )
    ledger.reschedule(
        store, RescheduleRequest(actor="coordinator", as_of=late, subject_code="S-001", sequence=2)
    )
    after_reschedule = {
        e["uid"]: e
        for e in ical_js(_export(database_url, tmp_path, "S-001", "--as-of=2028-03-07T12:00:00+00:00"))[
            "events"
        ]
    }
    skipped_at = datetime(2028, 3, 10, 9, 0, tzinfo=UTC)
    ledger.record_skipped(
        store, SkipRequest(actor="nurse", as_of=skipped_at, subject_code="S-001", sequence=3, reason="fever")
    )
    after = {
        e["uid"]: e
        for e in ical_js(
            _export(
                database_url, tmp_path, "S-001", "--as-of=2028-03-10T12:00:00+00:00", "--alarm-minutes=120"
            )
        )["events"]
    }

    assert set(after) == set(planned), "same events, same UIDs: nothing dropped, nothing duplicated"
    dose_uids = [d["uid"] for d in doses]
    first, second, third = (after[uid] for uid in dose_uids)
    assert first["summary"].startswith("[given] ") and first["status"] == "CONFIRMED"
    assert first["stamp"] == "2028-02-27T08:00:00Z", "DTSTAMP: when the administration was recorded"
    assert second["summary"].startswith("[given late] ")
    moved = after_reschedule[dose_uids[2]]
    assert moved["sequence"] > planned[dose_uids[2]]["sequence"]
    assert moved["start"]["local"] == "2028-03-13T09:00:00"
    assert third["status"] == "CANCELLED" and third["summary"].startswith("[cancelled] ")
    assert third["sequence"] > moved["sequence"]
    # The skip's reason is free text: it stays in the ledger, never on a calendar.
    assert "fever" not in third["description"]
    assert "reason is in the ledger" in third["description"]
    assert all(not e["alarms"] for e in after.values()), "no reminder for given or cancelled doses"


def test_ward_calendar_for_a_date_range(
    store: Store, database_url: str, tmp_path: Path, ical_js: Reader
) -> None:
    ics = _export(
        database_url,
        tmp_path,
        "--site",
        "rigld-tehran",
        "--from",
        "2028-03-10",
        "--to",
        "2028-03-25",
        "--as-of=2028-03-01T00:00:00+00:00",
    )
    events = ical_js(ics)["events"]
    days = sorted((e["summary"].split(":")[0], e["start"]["local"][:10]) for e in events)
    assert days and all("2028-03-10" <= day <= "2028-03-25" for _, day in days), days
    assert {code for code, _ in days} == {"NCT05871463 S-001", "NCT05871463 S-002"}


def test_the_view_adapter_leaves_out_nothing_that_was_planned(store: Store) -> None:
    view = ledger.subject_view(store, "S-001", datetime(2028, 2, 26, tzinfo=UTC))
    events = subject_view_events(view)
    assert len(events) == len(view.doses) + len(view.assessments)
    assert all(event.stamp == ENROLLED_AT for event in events)
    # A dry-run calendar of the same subject (dosing.plan) has the same UIDs: it updates in place.
    protocol = get_protocol("NCT05871463")
    plan = plan_patient(
        protocol, PatientInputs(arm="exosome", weight=Weight.kg(70), anchor=date(2028, 2, 27))
    )
    dry_run = plan_events(protocol, plan, subject_code="S-001", revised_at=ENROLLED_AT)
    assert [e.uid for e in dry_run] == [e.uid for e in events]


def test_an_unknown_site_is_refused_not_exported_empty(store: Store, database_url: str) -> None:
    result = invoke_signed_in(database_url, ["calendar", "--site", "tehran", "-o", "-"])
    assert result.exit_code == 2
    assert "rigld-tehran" in result.output


def test_open_ended_range(store: Store, database_url: str, tmp_path: Path, ical_js: Reader) -> None:
    ics = _export(database_url, tmp_path, "--from", "2028-04-01", "--as-of=2028-03-01T00:00:00+00:00")
    days = [e["start"]["local"][:10] for e in ical_js(ics)["events"]]
    assert days and min(days) >= "2028-04-01"


def test_json_lists_the_events_and_the_file_carries_no_clinical_detail(
    store: Store, database_url: str
) -> None:
    result = invoke_signed_in(
        database_url, ["calendar", "S-001", "--json", "--as-of=2028-02-26T00:00:00+00:00"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["output"] is None and payload["subjects"] == ["S-001"]
    assert payload["event_count"] == len(payload["events"]) == 6
    text = "\n".join(f"{e['summary']}\n{e['description']}" for e in payload["events"]).lower()
    # Weight 70 kg and doses of 13.3-13.4 mg are in the ledger; none of it leaves on a calendar.
    for detail in ("kg", "mg", "13.3", "13.4", "weight", "lot", "arm"):
        assert not re.search(rf"\b{re.escape(detail)}\b", text), detail
