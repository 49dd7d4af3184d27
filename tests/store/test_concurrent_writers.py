"""Twenty OS processes write at the same moment, on SQLite and on PostgreSQL: no traceback, nothing
lost, nothing twice.

One pool of 20 spawned processes (each with its own engine) plays four rounds, released together by a
barrier each time: 20 randomized enrollments, 20 escalation enrollments, 20 missed-dose sweeps and 20
corrections of one dose. Every outcome is either done or a clean DosingError; the store is then read
back to check that the work adds up exactly once.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from dosing.catalog import get_protocol
from dosing.store import Store, ledger
from dosing.store import tables as t
from tests.store.conftest import at, enrollment

WRITERS = 20
ROUNDS = ("randomized", "escalation", "sweep", "correct")
SWEPT_AT = "2027-06-01T00:00:00+00:00"
CORRECTED_AT = "2026-12-04T12:00:00+08:00"


def _randomized(subject: str) -> Any:
    from dosing.units import parse_dose_per_kg

    return enrollment(
        "MSC-ACLF-WEEKLY", subject, weight="70 kg", dose_per_kg=parse_dose_per_kg("5 x10^5 cells/kg")
    )


def _write(store: Store, round_name: str, index: int) -> Any:
    from dosing.store.models import CorrectionRequest

    if round_name == "randomized":
        return ledger.enroll(store, _randomized(f"R-{index:03d}")).randomization_number
    if round_name == "escalation":
        return ledger.enroll(store, enrollment(subject=f"E-{index:03d}")).cohort_position
    if round_name == "sweep":
        swept = ledger.sweep_overdue(store, at(SWEPT_AT), f"sweeper-{index}")
        return sorted((m.subject_code, m.sequence) for m in swept.missed)
    request = CorrectionRequest(
        subject_code="C-001",
        sequence=2,
        reason=f"lot mistyped (nurse {index})",
        lot="L124",
        actor=f"nurse-{index}",
        as_of=at(CORRECTED_AT),
    )
    return ledger.correct(store, request)


def _writer(url: str, index: int, barrier: Any, results: Any) -> None:
    from dosing.errors import DosingError
    from dosing.store import open_store

    store = open_store(url)
    ledger.audit_trail(store, subject_code="C-001")  # a warm connection before the first barrier
    try:
        for round_name in ROUNDS:
            barrier.wait(timeout=300)
            try:
                results.put((round_name, index, "done", _write(store, round_name, index)))
            except DosingError as error:
                results.put((round_name, index, "refused", str(error)))
            except Exception:  # a traceback is the failure this test exists to show
                results.put((round_name, index, "crashed", traceback.format_exc()))
            barrier.wait(timeout=300)  # the round's writes are committed before the next starts
    finally:
        store.dispose()


def test_twenty_writers_at_once_end_in_work_done_once_or_clean_refusals(store: Store, store_url: str) -> None:
    from dosing.store.models import GivenRequest

    # The dose the correction round corrects: given once, from lot L123.
    ledger.enroll(store, enrollment(subject="C-001"))
    ledger.record_given(
        store,
        GivenRequest(
            subject_code="C-001",
            sequence=2,
            started_at=at("2026-12-04T10:30:00+08:00"),
            lot="L123",
            actor="nurse",
            as_of=at("2026-12-04T10:40:00+08:00"),
        ),
    )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    results = context.Queue()
    processes = [
        context.Process(target=_writer, args=(store_url, index, barrier, results)) for index in range(WRITERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in range(WRITERS * len(ROUNDS))]
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    crashed = [outcome for outcome in outcomes if outcome[2] == "crashed"]
    assert crashed == [], crashed[0][3]
    by_round: dict[str, list[tuple[str, Any]]] = {name: [] for name in ROUNDS}
    for round_name, _, kind, value in outcomes:
        by_round[round_name].append((kind, value))

    # Randomized: everyone enrolled, numbers 1..20 once each, arms in the seeded list's order.
    numbers = sorted(value for kind, value in by_round["randomized"] if kind == "done")
    assert numbers == list(range(1, WRITERS + 1)), by_round["randomized"]
    with store.session() as session:
        arms = session.execute(
            select(t.Enrollment.randomization_number, t.Enrollment.arm)
            .where(t.Enrollment.protocol_id == "MSC-ACLF-WEEKLY")
            .order_by(t.Enrollment.randomization_number)
        ).all()
    from dosing.allocation import allocation_sequence

    assert [arm for _, arm in arms] == allocation_sequence(get_protocol("MSC-ACLF-WEEKLY"), WRITERS)

    # Escalation: the open cohort fills place by place (C-001 holds place 1), the rest refused by rule.
    places = sorted(value for kind, value in by_round["escalation"] if kind == "done")
    assert places == list(range(2, len(places) + 2)) and places
    refusals = {value.split(" (rule: ")[1] for kind, value in by_round["escalation"] if kind == "refused"}
    assert len(refusals) <= 1, refusals
    with store.session() as session:
        enrolled = session.scalars(
            select(func.count()).select_from(t.Enrollment).where(t.Enrollment.protocol_id == "NCT04822922")
        ).one()
    assert enrolled == len(places) + 1

    # Sweeps: each missed dose reported by exactly one sweep, and one checkpoint row in all.
    reported = [dose for kind, value in by_round["sweep"] if kind == "done" for dose in value]
    assert all(kind == "done" for kind, _ in by_round["sweep"]), by_round["sweep"]
    assert reported and len(reported) == len(set(reported))
    overdue = ledger.overdue(store, at(SWEPT_AT))
    expected = sorted((row.subject_code, row.sequence) for row in overdue if row.state == "missed")
    assert sorted(reported) == expected
    trail = ledger.audit_trail(store)
    assert Counter(entry.action for entry in trail)["sweep"] == 1
    missed = [(e.subject_code, e.after["dose"]) for e in trail if e.action == "missed" and e.after]
    assert sorted(missed) == expected

    # Corrections of one dose at one moment: one kept, nineteen refused, the same on both databases.
    corrected = [value for kind, value in by_round["correct"] if kind == "done"]
    assert len(corrected) == 1, by_round["correct"]
    assert all("look at it again" in value for kind, value in by_round["correct"] if kind == "refused")
    with store.session() as session:
        corrections = session.scalars(
            select(func.count())
            .select_from(t.AdministrationEvent)
            .where(t.AdministrationEvent.kind == "correction")
        ).one()
    assert corrections == 1
    assert sum(1 for entry in trail if entry.action == "correct") == 1
