"""Dose ledger at scale: seed 100,000 subjects (~1,000,000 planned doses), time the overdue sweep and
bulk enrollment through the real enroll path.

    python benchmarks/bench_ledger.py                       # SQLite file in a temporary directory
    python benchmarks/bench_ledger.py --subjects 20000      # smaller
    python benchmarks/bench_ledger.py --postgres            # also PostgreSQL (schema created, dropped)

Seeding bypasses the use cases (bulk inserts of rows shaped exactly as the ledger writes them): ten
weekly doses per subject, anchors spread over the two years before the sweep day; of the doses whose
window has closed, 96% were given (1 in 50 of those late), 2% skipped, 2% missed. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from dosing.store import Store, ledger, open_store
from dosing.store.ledger import overdue_queries, overdue_rows
from dosing.store.models import EnrollmentRequest
from dosing.units import parse_dose_per_kg, parse_weight
from tests.eligible import ELIGIBLE

AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DOSES = 10
PG_URL = os.environ.get("DOSING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

SUBJECT_COLUMNS = ["id", "code", "protocol_id", "created_at"]
ENROLLMENT_COLUMNS = [
    "id", "subject_id", "protocol_id", "arm", "arm_role", "dose_level", "cohort", "cohort_position",
    "randomization_number", "allocation_overridden", "weight_kg", "weight_measured_on", "anchor_date",
    "site", "timezone", "enrolled_at", "enrolled_by",
]  # fmt: skip
PLANNED_COLUMNS = [
    "id", "enrollment_id", "subject_id", "sequence", "label", "study_day", "target_date", "earliest",
    "latest", "planned_start", "intervention", "dose_per_kg", "ordered_dose_value", "ordered_dose_unit",
    "final_volume_ml",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "planned_id", "subject_id", "kind", "slot", "started_at", "ended_at", "local_date",
    "window_latest", "amount_value", "amount_unit", "volume_ml", "partial", "lot", "given_by", "route",
    "reason", "recorded_at", "recorded_by",
]  # fmt: skip


def _stamp(moment: datetime, sqlite: bool) -> Any:
    # SQLite stores UTC date-times as text the way SQLAlchemy writes them; PostgreSQL takes the value.
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment


def _day(value: date, sqlite: bool) -> Any:
    return value.isoformat() if sqlite else value


def generate(subjects: int, seed: int, sqlite: bool) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Rows by table, in batches, for ``subjects`` subjects on a 10-dose weekly regimen."""
    rng = random.Random(seed)
    today = AS_OF.date()
    planned_id = event_id = 0
    batch: dict[str, list[tuple[Any, ...]]] = {"subjects": [], "enrollments": [], "planned": [], "events": []}
    for number in range(1, subjects + 1):
        anchor = today - timedelta(days=rng.randrange(0, 730))
        enrolled = datetime(anchor.year, anchor.month, anchor.day, 1, 0, tzinfo=UTC)
        batch["subjects"].append((number, f"B-{number:06d}", "MSC-ACLF-WEEKLY", _stamp(enrolled, sqlite)))
        batch["enrollments"].append(
            (number, number, "MSC-ACLF-WEEKLY", "msc", "experimental", "5 x10^5 cells/kg", None, None,
             number, False, "70", _day(anchor, sqlite), _day(anchor, sqlite), "site-1", "Asia/Shanghai",
             _stamp(enrolled, sqlite), "bench")
        )  # fmt: skip
        for sequence in range(1, DOSES + 1):
            planned_id += 1
            target = anchor + timedelta(days=7 * (sequence - 1))
            earliest, latest = target - timedelta(days=1), target + timedelta(days=1)
            start = datetime(target.year, target.month, target.day, 1, 0, tzinfo=UTC)
            batch["planned"].append(
                (planned_id, number, number, sequence, f"MSC infusion {sequence}", f"week {sequence - 1}",
                 _day(target, sqlite), _day(earliest, sqlite), _day(latest, sqlite), _stamp(start, sqlite),
                 "product", "5 x10^5 cells/kg", "3.5E+7", "{cells}", "100")
            )  # fmt: skip
            if latest >= today:
                continue
            roll = rng.random()
            if roll < 0.02:
                continue  # missed: nothing recorded
            event_id += 1
            if roll < 0.04:
                batch["events"].append(
                    (event_id, planned_id, number, "skipped", 0, None, None, _day(target, sqlite),
                     _day(latest, sqlite), None, None, None, False, None, None, None, "held",
                     _stamp(start, sqlite), "bench")
                )  # fmt: skip
                continue
            given_on = latest + timedelta(days=rng.randrange(1, 4)) if roll > 0.98 else target
            given_at = datetime(given_on.year, given_on.month, given_on.day, 2, 0, tzinfo=UTC)
            batch["events"].append(
                (event_id, planned_id, number, "given", 0, _stamp(given_at, sqlite), None,
                 _day(given_on, sqlite), _day(latest, sqlite), "3.5E+7", "{cells}", "100", False, "L1",
                 "bench", "IV", None, _stamp(given_at, sqlite), "bench")
            )  # fmt: skip
        if number % 5000 == 0 or number == subjects:
            yield "subjects", batch["subjects"]
            yield "enrollments", batch["enrollments"]
            yield "planned_administrations", batch["planned"]
            yield "administration_events", batch["events"]
            batch = {"subjects": [], "enrollments": [], "planned": [], "events": []}


COLUMNS = {
    "subjects": SUBJECT_COLUMNS,
    "enrollments": ENROLLMENT_COLUMNS,
    "planned_administrations": PLANNED_COLUMNS,
    "administration_events": EVENT_COLUMNS,
}


def seed(store: Store, subjects: int) -> dict[str, int]:
    counts = dict.fromkeys(COLUMNS, 0)
    sqlite = store.is_sqlite
    with store.engine.begin() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        for table, rows in generate(subjects, 20261201, sqlite):
            if not rows:
                continue
            columns = COLUMNS[table]
            counts[table] += len(rows)
            if sqlite:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            else:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        if not sqlite:
            for table in COLUMNS:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
    with store.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    if sqlite:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def timed(label: str, work: Callable[[], Any], repeat: int = 3) -> Any:
    durations = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        durations.append(time.perf_counter() - started)
    print(f"  {label:<52} best {min(durations):7.3f} s   median {statistics.median(durations):7.3f} s")
    return result


def bench(url: str, subjects: int, enrollments: int, label: str) -> None:
    print(f"\n== {label}: {subjects:,} subjects ==")
    store = open_store(url)
    with store.session() as session:
        already = session.connection().execute(text("SELECT count(*) FROM subjects")).scalar_one()
    if already:
        print(f"  reusing a seeded store ({already:,} subjects)")
    else:
        started = time.perf_counter()
        counts = seed(store, subjects)
        print(
            f"  seeded in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{table} {count:,}" for table, count in counts.items())
        )
    from dosing.store.ledger import late_candidates, missed_candidates

    cutoff = AS_OF.date() + timedelta(days=1)

    def candidates() -> int:
        with store.session() as session:
            connection = session.connection()
            missed = connection.execute(missed_candidates(cutoff)).all()
            late = connection.execute(late_candidates()).all()
            return len(missed) + len(late)

    with store.engine.connect() as connection:
        for name, query in (("missed", missed_candidates(cutoff)), ("late", late_candidates())):
            compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
            explain = "EXPLAIN QUERY PLAN " if store.is_sqlite else "EXPLAIN "
            plan = connection.exec_driver_sql(explain + str(compiled)).all()
            print(f"  plan ({name}): " + " | ".join(str(line[-1]) for line in plan))

    found = timed("overdue candidates, full anti-join (SQL only)", candidates)
    with store.session() as session:
        checkpoint = overdue_queries._checkpoint(session)
    if checkpoint is None:
        rows = timed("ledger.overdue, no sweep yet (full anti-join)", lambda: ledger.overdue(store, AS_OF))
        missed = sum(1 for row in rows if row.state == "missed")
        print(
            f"  -> {found:,} candidates, {len(rows):,} overdue rows "
            f"({missed:,} missed, {len(rows) - missed:,} late)"
        )
        swept = timed(
            "ledger.sweep_overdue, first ever (full search, writes audit)",
            lambda: ledger.sweep_overdue(store, AS_OF, "bench"),
            1,
        )
        print(
            f"  -> first sweep wrote {len(swept.missed):,} missed and {len(swept.late):,} late doses "
            "to the audit log"
        )
    rows = timed("ledger.overdue after a sweep (from its checkpoint)", lambda: ledger.overdue(store, AS_OF))
    with store.session() as session:
        full = [row for row, _ in overdue_rows._overdue(session, AS_OF, full=True)]
    print(f"  -> {len(rows):,} overdue rows; identical to the full search: {rows == full}")
    timed(
        "ledger.sweep_overdue again (idempotent: nothing new)",
        lambda: ledger.sweep_overdue(store, AS_OF, "bench"),
    )
    next_day = AS_OF + timedelta(days=1)
    newly = timed(
        "ledger.sweep_overdue, next day (windows closed since)",
        lambda: ledger.sweep_overdue(store, next_day, "bench"),
        1,
    )
    print(f"  -> next day's sweep found {len(newly.missed):,} newly missed, {len(newly.late):,} newly late")
    timed("ledger.overdue, next day", lambda: ledger.overdue(store, next_day))
    timed("ledger.subject_view (one subject)", lambda: ledger.subject_view(store, "B-000042", AS_OF), 5)

    dose = parse_dose_per_kg("5 x10^5 cells/kg")
    weight = parse_weight("70 kg")
    started = time.perf_counter()
    run = uuid.uuid4().hex[:4]
    for number in range(enrollments):
        ledger.enroll(
            store,
            EnrollmentRequest(
                protocol_id="MSC-ACLF-WEEKLY",
                eligibility=ELIGIBLE,
                subject_code=f"N{run}-{number:06d}",
                weight=weight,
                dose_per_kg=dose,
                anchor=AS_OF.date(),
                actor="bench",
                as_of=AS_OF,
            ),
        )
    elapsed = time.perf_counter() - started
    print(
        f"  enrollment through ledger.enroll (randomized, one transaction each): {enrollments:,} subjects "
        f"in {elapsed:.1f} s = {enrollments / elapsed:,.0f} subjects/s"
    )
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--enroll", type=int, default=2_000, help="subjects enrolled through the real path")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL if reachable")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite-file", default=None, help="keep the SQLite store here (reused if seeded)")
    arguments = parser.parse_args()
    print(f"dose ledger benchmark, as of {AS_OF.isoformat()}, {DOSES} weekly doses per subject")
    if arguments.sqlite_file and not arguments.skip_sqlite:
        bench(
            f"sqlite:///{Path(arguments.sqlite_file).resolve()}",
            arguments.subjects,
            arguments.enroll,
            "SQLite (file, WAL)",
        )
    elif not arguments.skip_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            bench(
                f"sqlite:///{directory}/bench.db", arguments.subjects, arguments.enroll, "SQLite (file, WAL)"
            )
    if arguments.postgres:
        schema = f"ledger_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as error:
            print(f"\nPostgreSQL unreachable ({str(error).splitlines()[0]}); skipped")
            return
        try:
            url = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
            bench(url, arguments.subjects, arguments.enroll, "PostgreSQL")
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
