"""Enroll N subjects (default 10,000) through the enroll-roster flow and through the core and store alone.

    python benchmarks/bench_flows.py [--subjects 10000] [--batch-size 500]

Both paths parse the same CSV roster and enroll it with the application layer's bulk enrollment
(``dosing.app.bulk_enrollment``: one transaction per batch, each batch's rows inserted per table) into
their own fresh SQLite store. The flow runs on Prefect's temporary server; its start-up
is measured apart (a no-op flow run first), as a fixed cost. Prints both times, their ratio and the
overhead per task run. Target: flow <= 1.5 x core + the fixed start-up.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from dosing.cli.flows import prepare_prefect_environment

# As `dosing flows run` does: telemetry off, time to start the server, Prefect's own logging quiet.
prepare_prefect_environment()

ENROLLED_ON = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: Open studies without a cap on enrollment (the escalation study stops at 16 subjects).
STUDIES = [
    ("MSC-ACLF-WEEKLY", "5 x10^5 cells/kg"),
    ("NCT05871463", ""),
    ("SYSU3-MSCEV-LT", ""),
]


def write_roster(path: Path, subjects: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_code", "protocol", "arm", "weight", "anchor", "site", "dose_per_kg"])
        for number in range(1, subjects + 1):
            protocol, dose = STUDIES[number % len(STUDIES)]
            weight = f"{55 + number % 40}.{number % 10} kg"
            anchor = f"2026-12-{1 + number % 28:02d}"
            writer.writerow([f"B-{number:05d}", protocol, "", weight, anchor, "", dose])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    roster = work / "roster.csv"
    write_roster(roster, args.subjects)

    import dosing.app.clock
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.store import open_store
    from flows.enroll import enroll_rows
    from flows.roster import parse_roster

    # Enrollments are stamped by the server clock: the benchmark's clock stands on its enrollment day.
    dosing.app.clock.now = lambda: ENROLLED_ON  # type: ignore[assignment]

    def coordinator(store: object) -> Context:
        """A coordinator on a fresh store (the first account is the admin who adds it)."""
        admin = accounts.bootstrap_admin(store, "bench-admin", "Bench Admin", "admin", "benchmark password")  # type: ignore[arg-type]
        actor = accounts.add_user(
            Context(store=store, actor=admin),
            "bench",
            "Bench Coordinator",
            "coordinator",
            "benchmark password",  # type: ignore[arg-type]
        )
        return Context(store=store, actor=actor)  # type: ignore[arg-type]

    # Warm-up (protocol library, pydantic schemas, SQLAlchemy compiled statements) in a scratch store,
    # so that neither timed path pays it.
    warm = work / "warm.csv"
    write_roster(warm, 30)
    enroll_rows(coordinator(open_store(f"sqlite:///{work / 'warm.db'}")), parse_roster(warm.read_text()).rows)

    def core_run(name: str) -> float:
        """Core and store alone: parse, validate and enroll each row, as the flow's tasks do."""
        ctx = coordinator(open_store(f"sqlite:///{work / name}"))  # schema creation is in neither timing
        begun = time.perf_counter()
        parsed = parse_roster(roster.read_text())
        outcome = enroll_rows(ctx, parsed.rows)
        seconds = time.perf_counter() - begun
        assert len(outcome["enrolled"]) == args.subjects, outcome["rejected"][:3]
        return seconds

    # The core runs before and after the flow (disk and cache state drift over minutes): mean of both.
    core_before = core_run("core-1.db")

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.enroll import enroll_roster
    from flows.store_access import store_for

    @flow(name="bench-start-up", persist_result=False)
    def start_up() -> None:
        return None

    @task(persist_result=False, cache_policy=NO_CACHE)
    def no_op(number: int) -> int:
        return number

    @flow(name="bench-task-overhead", persist_result=False)
    def task_overhead(count: int) -> float:
        begun = time.perf_counter()
        for number in range(count):
            no_op(number)
        return (time.perf_counter() - begun) / count

    started = time.perf_counter()
    start_up()  # starts the temporary server (and migrates a fresh PREFECT_HOME)
    start_up_seconds = time.perf_counter() - started

    # Task runs measured on their own (this also warms up the task engine before the timed flow).
    per_no_op_task = task_overhead(50)
    flow_url = f"sqlite:///{work / 'flow.db'}"
    # the flow's store handle, opened (schema created) outside the timing as for the core
    flow_actor = coordinator(store_for(flow_url)).actor
    from dosing.app.flow_actor import acting_as

    started = time.perf_counter()
    with acting_as(flow_actor):
        summary = enroll_roster(str(roster), database_url=flow_url, batch_size=args.batch_size)
    flow_seconds = time.perf_counter() - started
    assert len(summary["enrolled"]) == args.subjects, summary["rejected"][:3]
    tasks = summary["batches"]
    core_after = core_run("core-2.db")
    core_seconds = (core_before + core_after) / 2

    print(
        f"subjects enrolled         {args.subjects:,} (each: plan, doses, assessments, audit; 1 transaction)"
    )
    per_subject = core_seconds / args.subjects * 1000
    print(
        f"core + store alone        {core_seconds:8.2f} s  ({per_subject:.2f} ms/subject; "
        f"mean of {core_before:.2f} s before and {core_after:.2f} s after the flow)"
    )
    print(f"flow ({tasks} tasks of {args.batch_size})  {flow_seconds:8.2f} s  (server already up)")
    print(f"ratio flow / core         {flow_seconds / core_seconds:8.3f}")
    overhead = flow_seconds - core_seconds
    print(f"overhead per task run     {overhead / tasks * 1000:8.1f} ms  (flow - core, over {tasks} tasks)")
    print(f"one no-op task run        {per_no_op_task * 1000:8.1f} ms  (measured: 50 in sequence)")
    print(f"fixed start-up            {start_up_seconds:8.2f} s  (temporary server + first flow run)")
    verdict = "met" if flow_seconds <= 1.5 * core_seconds else "NOT met"
    print(f"target flow <= 1.5 x core + start-up: {verdict}")


if __name__ == "__main__":
    main()
