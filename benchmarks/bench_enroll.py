"""Enrollment speed against its floors, in one run: bulk (a roster) and single enrollments through the
application layer, and raw inserts of the very rows they store.

    python benchmarks/bench_enroll.py [--subjects 10000] [--batch-size 500] [--postgres] [--skip-sqlite]

Each path enrolls the same N subjects (randomized, fixed-arm and per-patient-dose studies, every one
validated, allocated, planned and audited) into a fresh store of its own:

- bulk:   ``dosing.app.bulk_enrollment.enroll_roster`` (what ``dosing enroll --roster`` and the roster
          flow run): one transaction per batch, the batch's rows inserted per table;
- single: ``dosing.app.enrollment.enroll`` per subject (one transaction each);
- floors: the rows the single path stored (subjects, enrollments, eligibility, planned doses and
          assessments, audit entries) inserted again with Core ``insert()`` executemany into an empty
          store, one transaction per subject, and one transaction for all.

Then the stored rows of the bulk path are compared with those of the single path (same plans, same
allocations, same audit content apart from row ids, times and hashes). PostgreSQL (127.0.0.1:5432,
database ``test``) runs in throwaway schemas, dropped at the end. Figures are printed, never asserted;
the machine's load average is printed with them. Goals (issue 15): bulk >= 2,000 subjects/s on SQLite
and >= 1,000/s on PostgreSQL; single >= 800/s on SQLite.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, select, text
from sqlmodel import SQLModel

PG_URL = os.environ.get("DOSING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ENROLLED_ON = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LABS = ["50", "1.5 mg/dL", "10 mg/dL", "1.8", "3.0 g/dL", "mild", "none"]
#: The dose-escalation study's first cohort (its 4 places; the next opens after a safety review).
ESCALATION = ("NCT04822922", "", "renji-shanghai")
#: Open studies without a cap on enrollment: randomized, per-patient dose, single group.
STUDIES = [
    ("MSC-ACLF-WEEKLY", "5 x10^5 cells/kg", ""),
    ("NCT05871463", "", ""),
    ("SYSU3-MSCEV-LT", "", ""),
]
GOALS = {"SQLite": {"bulk": 2000, "single": 800}, "PostgreSQL": {"bulk": 1000}}
#: Tables an enrollment writes, in insertion order (foreign keys).
TABLES = [
    "subjects", "enrollments", "enrollment_eligibility", "planned_administrations", "planned_assessments",
    "audit_log",
]  # fmt: skip


def roster_text(subjects: int) -> str:
    lines: list[list[str]] = [
        ["subject_code", "protocol", "arm", "weight", "anchor", "site", "dose_per_kg", "age", "creatinine",
         "bilirubin", "inr", "albumin", "ascites", "encephalopathy"]
    ]  # fmt: skip
    for number in range(1, subjects + 1):
        protocol, dose, site = ESCALATION if number <= 4 else STUDIES[number % len(STUDIES)]
        weight = f"{55 + number % 40}.{number % 10} kg"
        anchor = f"2026-12-{1 + number % 28:02d}"
        lines.append([f"B-{number:06d}", protocol, "", weight, anchor, site, dose, *LABS])
    with tempfile.SpooledTemporaryFile(mode="w+", newline="") as handle:
        csv.writer(handle).writerows(lines)
        handle.seek(0)
        return str(handle.read())


def coordinator(store: Any) -> Any:
    from dosing.app import accounts
    from dosing.app.context import Context

    admin = accounts.bootstrap_admin(store, "bench-admin", "Bench Admin", "admin", "a long password 2026")
    actor = accounts.add_user(
        Context(store=store, actor=admin), "bench", "Bench Coordinator", "coordinator", "a long password 2026"
    )
    return Context(store=store, actor=actor)


def rows_by_subject(store: Any) -> list[dict[str, list[dict[str, Any]]]]:
    """The rows each subject's enrollment stored, per table, in subject order (for the floors)."""
    tables = SQLModel.metadata.tables
    grouped: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    with store.engine.connect() as connection:
        enrollment_subject = dict(connection.execute(text("SELECT id, subject_id FROM enrollments")).all())
        for name in TABLES:
            query = select(tables[name])
            if name == "audit_log":
                query = query.where(tables[name].c.action == "enroll")
            key = tables[name].c.get("id", tables[name].c.get("enrollment_id"))
            for row in connection.execute(query.order_by(key)).mappings():
                if name == "subjects":
                    subject = row["id"]
                elif name == "audit_log":
                    subject = enrollment_subject[row["entity_id"]]
                elif "subject_id" in row:
                    subject = row["subject_id"]
                else:
                    subject = enrollment_subject[row["enrollment_id"]]
                grouped[subject][name].append(dict(row))
    return [grouped[subject] for subject in sorted(grouped)]


def floor(store: Any, subjects: list[dict[str, list[dict[str, Any]]]], per_subject: bool) -> float:
    """Seconds to insert the rows with Core executemany: one transaction per subject, or one for all."""
    tables = SQLModel.metadata.tables
    begun = time.perf_counter()
    if per_subject:
        for rows in subjects:
            with store.engine.begin() as connection:
                for name in TABLES:
                    if rows.get(name):
                        connection.execute(insert(tables[name]), rows[name])
    else:
        with store.engine.begin() as connection:
            for name in TABLES:
                every = [row for rows in subjects for row in rows.get(name, [])]
                for start in range(0, len(every), 5000):
                    connection.execute(insert(tables[name]), every[start : start + 5000])
    return time.perf_counter() - begun


def bench(label: str, new_store: Callable[[str], Any], subjects: int, batch_size: int) -> None:
    from dosing.app.bulk_enrollment import enroll_roster
    from dosing.app.enrollment import enroll
    from dosing.app.roster import parse_roster
    from tests.enrolled_rows import enrolled_rows

    print(f"\n== {label}: {subjects:,} subjects ==")
    text_ = roster_text(subjects)
    # Warm-up (protocol library, pydantic schemas, compiled statements) in a scratch store.
    warm = parse_roster(roster_text(40))
    enroll_roster(coordinator(new_store("warm")), warm)

    # Bulk: parse the roster and enroll it, as `dosing enroll --roster` does.
    bulk_store = new_store("bulk")
    ctx = coordinator(bulk_store)
    begun = time.perf_counter()
    outcome = enroll_roster(ctx, parse_roster(text_), batch_size=batch_size)
    bulk = time.perf_counter() - begun
    assert len(outcome["enrolled"]) == subjects, outcome["rejected"][:3]

    # Single: the same rows, one enrollment (one transaction) each.
    single_store = new_store("single")
    ctx = coordinator(single_store)
    begun = time.perf_counter()
    for row in parse_roster(text_).rows:
        enroll(ctx, row.to_form())
    single = time.perf_counter() - begun

    stored = rows_by_subject(single_store)
    per_subject = floor(new_store("floor-per-subject"), stored, per_subject=True)
    one_transaction = floor(new_store("floor-one-transaction"), stored, per_subject=False)

    rates = {
        "bulk (roster, one transaction per batch)": subjects / bulk,
        "single (one transaction per subject)": subjects / single,
        "floor: raw inserts, one transaction per subject": subjects / per_subject,
        "floor: raw inserts, one transaction for all": subjects / one_transaction,
    }
    for name, rate in rates.items():
        print(f"  {name:<50} {rate:8,.0f} subjects/s")
    floor_each = rates["floor: raw inserts, one transaction per subject"]
    floor_all = rates["floor: raw inserts, one transaction for all"]
    b, s = rates["bulk (roster, one transaction per batch)"], rates["single (one transaction per subject)"]
    print(f"  bulk / single {b / s:.2f}   bulk / floor one transaction {b / floor_all:.2f}   "
          f"single / floor per subject {s / floor_each:.2f}")  # fmt: skip
    for path, goal in GOALS.get(label, {}).items():
        rate = b if path == "bulk" else s
        print(f"  goal {path} >= {goal:,}/s: {'met' if rate >= goal else 'NOT met'} ({rate:,.0f}/s)")
    same = enrolled_rows(bulk_store) == enrolled_rows(single_store)
    print(f"  stored rows of bulk == single (plans, allocations, audit content): {same}")
    print(f"  load average: {Path('/proc/loadavg').read_text().strip()}")


@contextmanager
def sqlite_stores() -> Iterator[Callable[[str], Any]]:
    from dosing.store import open_store

    opened: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="bench-enroll-") as directory:

        def new_store(name: str) -> Any:
            opened.append(open_store(f"sqlite:///{directory}/{name}.db"))
            return opened[-1]

        try:
            yield new_store
        finally:
            for store in opened:
                store.dispose()


@contextmanager
def postgres_stores() -> Iterator[Callable[[str], Any]]:
    from dosing.store import open_store

    admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    tag = uuid.uuid4().hex[:8]
    schemas: list[str] = []
    opened: list[Any] = []

    def new_store(name: str) -> Any:
        schema = f"enroll_bench_{tag}_{name.replace('-', '_')}"
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        opened.append(open_store(f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"))
        return opened[-1]

    try:
        yield new_store
    finally:
        for store in opened:
            store.dispose()
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (throwaway schemas)")
    parser.add_argument("--skip-sqlite", action="store_true")
    arguments = parser.parse_args()

    import dosing.app.clock

    # Enrollments are stamped by the server clock: the benchmark's clock stands on its enrollment day.
    dosing.app.clock.now = lambda: ENROLLED_ON  # type: ignore[assignment]
    print(f"enrollment benchmark: {arguments.subjects:,} subjects, batches of {arguments.batch_size}")
    if not arguments.skip_sqlite:
        with sqlite_stores() as new_store:
            bench("SQLite", new_store, arguments.subjects, arguments.batch_size)
    if arguments.postgres:
        try:
            with create_engine(PG_URL, connect_args={"connect_timeout": 3}).connect():
                pass
        except Exception as error:
            print(f"\nPostgreSQL unreachable ({str(error).splitlines()[0]}); skipped")
            return
        with postgres_stores() as new_store:
            bench("PostgreSQL", new_store, arguments.subjects, arguments.batch_size)


if __name__ == "__main__":
    main()
