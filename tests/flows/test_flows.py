"""Each flow end to end through Prefect (one server for the session) on a SQLite store in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from dosing.store import ledger, open_store

pytestmark = pytest.mark.usefixtures("prefect_server")

ROSTERS = Path(__file__).parent / "rosters"
ENROLLED_ON = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: Long after every window of the good roster has closed.
LATER = datetime(2027, 3, 1, tzinfo=UTC)


class Clock:
    """The server clock the flows stamp their writes with, set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = ENROLLED_ON
        monkeypatch.setattr("dosing.app.clock.now", lambda: self.now)

    def set(self, moment: datetime) -> None:
        self.now = moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture(autouse=True)
def coordinator(store_url: str, clock: Clock) -> Iterator[Any]:
    """The flows run as the person who started them: a coordinator logged in here."""
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.app.flow_actor import acting_as

    store = open_store(store_url)
    admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", "a long test password")
    as_admin = Context(store=store, actor=admin)
    actor = accounts.add_user(
        as_admin, "coord", "Co Ordinator", "coordinator,pharmacist", "a long test password"
    )
    with acting_as(actor):
        yield actor


@pytest.fixture
def captured_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Events the flows emit, captured in the process instead of sent to the server."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


def _enroll(store_url: str, roster: str, calendar_dir: Path | None = None) -> dict[str, Any]:
    from flows.enroll import enroll_roster

    return enroll_roster(
        str(ROSTERS / roster),
        database_url=store_url,
        calendar_dir=str(calendar_dir) if calendar_dir else None,
        batch_size=3,
    )


def _audit_count(store_url: str) -> int:
    return len(ledger.audit_trail(open_store(store_url)))


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_enroll_roster_persists_plans_and_calendars_and_a_rerun_changes_nothing(
    store_url: str, tmp_path: Path
) -> None:
    calendars = tmp_path / "calendars"
    summary = _enroll(store_url, "good.csv", calendars)

    codes = ["RJ-001", "RJ-002", "RJ-003", "ACLF-001", "ACLF-002", "EXO-001", "LT-001"]
    assert [item["subject_code"] for item in summary["enrolled"]] == codes
    assert summary["rejected"] == [] and summary["skipped"] == []
    assert summary["batches"] == 3  # 7 rows, 3 per task
    store = open_store(store_url)
    views = {view.subject_code: view for view in ledger.site_views(store, None, None, None, ENROLLED_ON)}
    assert sorted(views) == sorted(codes)
    # The plan is the core's: four doses on days 1, 4, 7, 10 for the escalation study's first cohort.
    rj = views["RJ-001"]
    assert rj.arm == "low" and [d.target_date for d in rj.doses] == [
        date(2026, 12, 1),
        date(2026, 12, 4),
        date(2026, 12, 7),
        date(2026, 12, 10),
    ]
    assert str(rj.doses[0].ordered_dose) == "2.48 x10^7 cells"  # 4 x10^5 cells/kg x 62 kg
    files = sorted(str(path.relative_to(calendars)) for path in calendars.rglob("*.ics"))
    assert files == sorted(
        [f"subjects/{code}.ics" for code in codes]
        + [f"sites/{site}.ics" for site in ("renji-shanghai", "rigld-tehran", "site-1", "sysu3-guangzhou")]
    )
    ics = (calendars / "subjects" / "RJ-001.ics").read_text()
    assert ics.count("BEGIN:VEVENT") >= 4 and "RJ-001" in ics

    audit_before, files_before = _audit_count(store_url), _snapshot(calendars)
    again = _enroll(store_url, "good.csv", calendars)
    assert again["enrolled"] == [] and again["rejected"] == []
    assert [item["subject_code"] for item in again["skipped"]] == codes
    assert _audit_count(store_url) == audit_before
    assert len(ledger.site_views(store, None, None, None, ENROLLED_ON)) == len(codes)
    assert _snapshot(calendars) == files_before  # not even rewritten


def test_roster_with_bad_rows_reports_line_numbers_and_enrolls_the_good_rows(store_url: str) -> None:
    summary = _enroll(store_url, "with-bad-rows.csv")

    rejected = {item["line"]: item for item in summary["rejected"]}
    assert sorted(rejected) == [3, 4, 5, 6, 7, 8, 9]
    assert rejected[3]["field"] == "weight" and "no unit" in rejected[3]["reason"]
    assert rejected[4]["field"] == "weight" and "inclusion" in rejected[4]["reason"]  # 45 kg < 50 kg
    assert rejected[5]["field"] == "arm"  # cohort 1 is filling at the low level
    assert "first on line 2" in rejected[6]["reason"]
    assert "withdrawn" in rejected[7]["reason"]
    assert rejected[9]["field"] == "anchor"
    enrolled = [(item["line"], item["subject_code"]) for item in summary["enrolled"]]
    assert enrolled == [(2, "RJ-101"), (11, "RJ-107"), (13, "RJ-108")]
    # Refused rows left nothing behind: only the good subjects, each with a whole plan.
    views = ledger.site_views(open_store(store_url), None, None, None, ENROLLED_ON)
    assert sorted(view.subject_code for view in views) == ["RJ-101", "RJ-107", "RJ-108"]
    assert all(len(view.doses) == 4 for view in views)


def test_a_subject_enrolled_with_other_inputs_is_reported_not_overwritten(
    store_url: str, tmp_path: Path
) -> None:
    _enroll(store_url, "good.csv")
    changed = tmp_path / "changed.csv"
    text = (
        (ROSTERS / "good.csv")
        .read_text()
        .replace("RJ-002,NCT04822922,low,70.5kg", "RJ-002,NCT04822922,low,75kg")
    )
    changed.write_text(text)
    from flows.enroll import enroll_roster

    summary = enroll_roster(str(changed), database_url=store_url)
    assert [(item["line"], item["subject_code"]) for item in summary["rejected"]] == [(3, "RJ-002")]
    assert "weight 70.5 kg (roster: 75 kg)" in summary["rejected"][0]["reason"]
    assert str(ledger.subject_view(open_store(store_url), "RJ-002", ENROLLED_ON).weight) == "70.5 kg"


def test_missed_dose_sweep_audits_and_emits_once(clock: Clock, store_url: str, captured_events: Any) -> None:
    from flows.sweep import missed_dose_sweep

    _enroll(store_url, "good.csv")
    store = open_store(store_url)
    expected = sorted(
        (row.subject_code, row.sequence) for row in ledger.overdue(store, LATER) if row.state == "missed"
    )
    assert len(expected) == 20  # every product dose of the good roster (the control arm has none)

    clock.set(LATER)
    summary = missed_dose_sweep(database_url=store_url)
    assert summary["newly_missed"] == 20
    assert sorted((d["subject_code"], d["sequence"]) for d in summary["doses"]) == expected
    assert summary["overdue"] == {"missed": 20}
    missed_audit = [entry for entry in ledger.audit_trail(store) if entry.action == "missed"]
    assert len(missed_audit) == 20

    captured_events.drain()
    events = [e for e in captured_events._client.events if e.event == "dosing.dose.missed"]
    assert sorted(e.resource.id for e in events) == sorted(
        f"dosing.dose.{protocol}.{code}.{seq}"
        for code, seq in expected
        for protocol in [ledger.subject_view(store, code, LATER).protocol_id]
    )
    assert events[0].payload["days_late"] > 0

    clock.set(LATER)
    again = missed_dose_sweep(database_url=store_url)
    assert again["newly_missed"] == 0 and again["doses"] == []
    captured_events.drain()
    assert len([e for e in captured_events._client.events if e.event == "dosing.dose.missed"]) == 20
    assert len([entry for entry in ledger.audit_trail(store) if entry.action == "missed"]) == 20


def test_the_sweep_reports_a_dose_given_late_once_and_emits_no_missed_event(
    clock: Clock, store_url: str, captured_events: Any
) -> None:
    from zoneinfo import ZoneInfo

    from dosing.store.models import GivenRequest
    from flows.sweep import missed_dose_sweep

    _enroll(store_url, "good.csv")
    store = open_store(store_url)
    view = ledger.subject_view(store, "RJ-001", LATER)
    dose = view.doses[0]
    started = datetime.combine(dose.latest + timedelta(days=1), time(10), tzinfo=ZoneInfo(view.timezone))
    ledger.record_given(
        store,
        GivenRequest(subject_code="RJ-001", sequence=dose.sequence, started_at=started, actor="nurse",
                     as_of=started + timedelta(hours=1)),
    )  # fmt: skip

    clock.set(LATER)
    summary = missed_dose_sweep(database_url=store_url)
    assert summary["newly_late"] == 1 and summary["newly_missed"] == 19
    [late] = summary["late_doses"]
    assert (late["subject_code"], late["sequence"], late["days_late"]) == ("RJ-001", dose.sequence, 1)
    assert summary["overdue"] == {"given_late": 1, "missed": 19}
    captured_events.drain()
    missed_events = [e for e in captured_events._client.events if e.event == "dosing.dose.missed"]
    assert len(missed_events) == 19
    assert f"dosing.dose.{view.protocol_id}.RJ-001.{dose.sequence}" not in {
        e.resource.id for e in missed_events
    }

    clock.set(LATER)
    again = missed_dose_sweep(database_url=store_url)
    assert again["newly_late"] == 0 and again["late_doses"] == []
    assert len([e for e in ledger.audit_trail(store) if e.action == "dose_late"]) == 1


def test_prep_list_gives_preparation_figures_for_the_doses_due(store_url: str, tmp_path: Path) -> None:
    from flows.prep import pharmacy_prep_list

    _enroll(store_url, "good.csv")
    out = tmp_path / "prep.csv"
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai, 03:30 in Tehran
    summary = pharmacy_prep_list(hours=24, as_of=start, out=str(out), database_url=store_url)

    due = [(d["subject_code"], d["sequence"]) for d in summary["doses"]]
    assert due == [("RJ-001", 1), ("RJ-002", 1), ("EXO-001", 1)]  # in order of planned start
    first = summary["doses"][0]
    # 2.48 x10^7 cells from the reference lot at 2 x10^6 cells/mL: 12.4 mL, at 95% viability 13.1 mL.
    assert first["volume_to_draw"] == "13.1 mL" and first["final_volume"] == "100 mL"
    assert first["diluent"] == "86.9 mL" and "reference lot" in first["concentration_source"]
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("planned_start,site,protocol_id,subject_code")

    before = out.stat().st_mtime_ns
    again = pharmacy_prep_list(hours=24, as_of=start, out=str(out), database_url=store_url)
    assert again == summary and out.stat().st_mtime_ns == before
    # Later than the period: nothing due yet in the next hour.
    assert pharmacy_prep_list(hours=1, as_of=start, database_url=store_url)["doses"] == []


def test_prep_list_uses_a_registered_lot(store_url: str) -> None:
    from dosing.pharmacy.lots import Lot
    from dosing.store.lots import add_lot
    from flows.prep import pharmacy_prep_list

    _enroll(store_url, "good.csv")
    lot = Lot(
        product="UC-MSC",
        lot_number="UCM-2611-07",
        concentration="4 x10^6 cells/mL",
        viability="90%",
        volume="50 mL",
        expiry=date(2027, 1, 31),
    )
    add_lot(open_store(store_url), lot, actor="pharmacist", as_of=ENROLLED_ON)
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    doses = pharmacy_prep_list(hours=24, as_of=start, site="renji-shanghai", database_url=store_url)["doses"]
    assert [d["subject_code"] for d in doses] == ["RJ-001", "RJ-002"]
    assert doses[0]["lot"] == "UCM-2611-07"
    # 2.48 x10^7 / (4 x10^6 x 90%) = 6.89 mL, to 0.1 mL: 6.9 mL.
    assert doses[0]["volume_to_draw"] == "6.9 mL" and doses[0]["latest_thaw"] is not None


def test_calendar_export_writes_every_subject_and_site_once(store_url: str, tmp_path: Path) -> None:
    from flows.calendars import export_calendars

    _enroll(store_url, "with-bad-rows.csv")
    out = tmp_path / "ics"
    summary = export_calendars(str(out), as_of=ENROLLED_ON, database_url=store_url)
    assert summary["files"] == summary["written"] == 4  # three subjects and their site
    site = (out / "sites" / "renji-shanghai.ics").read_text()
    assert all(code in site for code in ("RJ-101", "RJ-107", "RJ-108"))
    before = _snapshot(out)
    again = export_calendars(str(out), as_of=ENROLLED_ON, database_url=store_url)
    assert again["written"] == 0 and again["unchanged"] == 4
    assert _snapshot(out) == before


def test_a_transient_database_error_is_retried(
    clock: Clock, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    import flows.sweep as sweep
    from flows.store_access import store_for

    _enroll(store_url, "good.csv")
    calls: list[str | None] = []

    def flaky(url: str | None) -> Any:
        calls.append(url)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return store_for(url)

    monkeypatch.setattr(sweep, "store_for", flaky)
    monkeypatch.setattr(sweep.sweep_store, "retry_delay_seconds", [0.0])
    clock.set(LATER)
    summary = sweep.missed_dose_sweep(database_url=store_url)
    assert len(calls) == 2 and summary["newly_missed"] == 20


def test_a_broken_rule_is_not_retried(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.sweep as sweep
    from dosing.errors import DosingError

    calls: list[str | None] = []

    def refusing(url: str | None) -> Any:
        calls.append(url)
        raise DosingError("database", "a known store", "refused")

    monkeypatch.setattr(sweep, "store_for", refusing)
    monkeypatch.setattr(sweep.sweep_store, "retry_delay_seconds", [0.0])
    with pytest.raises(DosingError):
        clock.set(LATER)
        sweep.missed_dose_sweep(database_url="sqlite://")
    assert len(calls) == 1


def test_prep_list_shows_a_bag_that_must_not_be_made_with_the_reason(store_url: str) -> None:
    from dosing.pharmacy.lots import Lot
    from dosing.store.lots import add_lot
    from flows.prep import pharmacy_prep_list

    _enroll(store_url, "good.csv")
    expired = Lot(
        product="UC-MSC",
        lot_number="UCM-2610-01",
        concentration="4 x10^6 cells/mL",
        viability="90%",
        volume="50 mL",
        expiry=date(2026, 11, 25),
    )
    add_lot(open_store(store_url), expired, actor="pharmacist", as_of=ENROLLED_ON)
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    doses = pharmacy_prep_list(hours=24, as_of=start, site="renji-shanghai", database_url=store_url)["doses"]
    assert [d["subject_code"] for d in doses] == ["RJ-001", "RJ-002"]
    assert all(d["refusal"] and "expir" in d["refusal"] for d in doses)
    assert all("volume_to_draw" not in d for d in doses)
