"""Two OS processes record the same dose at the same moment: exactly one administration, one refusal.

The processes are real (multiprocessing with spawn), each with its own engine and connection, released
together by a barrier. On SQLite the write lock serialises them (BEGIN IMMEDIATE) and the second sees
the first's record; on PostgreSQL both may pass the read check and the unique constraint on
(planned dose, slot) refuses the second insert. Both paths end in the same clear refusal.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from sqlalchemy import func, select

from dosing.store import Store, ledger
from dosing.store import tables as t
from tests.store.conftest import enrollment

ROUNDS = 3


def _record(url: str, subject: str, nurse: str, barrier: Any, results: Any) -> None:
    from dosing.errors import DosingError
    from dosing.store import ledger, open_store
    from dosing.store.models import GivenRequest
    from tests.store.conftest import at

    store = open_store(url)
    request = GivenRequest(
        subject_code=subject,
        sequence=2,
        started_at=at("2026-12-04T10:30:00+08:00"),
        lot="L123",
        actor=nurse,
        as_of=at("2026-12-04T10:40:00+08:00"),
    )
    # Warm the connection so both processes reach the barrier ready to write.
    ledger.subject_view(store, subject, request.as_of)
    barrier.wait(timeout=60)
    try:
        record_id = ledger.record_given(store, request)
        results.put((nurse, "recorded", str(record_id)))
    except DosingError as error:
        results.put((nurse, "refused", str(error)))
    except Exception as error:  # anything else is a failure the test must show
        results.put((nurse, "crashed", repr(error)))
    finally:
        store.dispose()


def test_two_processes_recording_the_same_dose_leave_one_record_and_one_refusal(
    store: Store, store_url: str
) -> None:
    context = multiprocessing.get_context("spawn")
    for round_number in range(ROUNDS):
        subject = f"S-{round_number:03d}"
        ledger.enroll(store, enrollment(subject=subject) if round_number == 0 else _next(store, subject))
        barrier = context.Barrier(2)
        results = context.Queue()
        processes = [
            context.Process(target=_record, args=(store_url, subject, nurse, barrier, results))
            for nurse in ("nurse-a", "nurse-b")
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        kinds = sorted(outcome[1] for outcome in outcomes)
        assert kinds == ["recorded", "refused"], outcomes
        refusal = next(outcome[2] for outcome in outcomes if outcome[1] == "refused")
        assert f"dose 2 of {subject} is already recorded" in refusal
        with store.session() as session:
            given = session.scalars(
                select(func.count())
                .select_from(t.AdministrationEvent)
                .join(t.Subject, t.Subject.id == t.AdministrationEvent.subject_id)
                .where(t.Subject.code == subject, t.AdministrationEvent.kind == "given")
            ).one()
        assert given == 1
        recorded = [e for e in ledger.audit_trail(store, subject_code=subject) if e.action == "record_given"]
        assert len(recorded) == 1


def _next(store: Store, subject: str):  # type: ignore[no-untyped-def]
    # Escalation: later subjects join cohort 1 until it is full (ROUNDS <= cohort size).
    return enrollment(subject=subject)
