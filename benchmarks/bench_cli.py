#!/usr/bin/env python
"""Start-up time of the interactive commands (issue 15), each beside its floor, measured in one run.

    python benchmarks/bench_cli.py            # median of 7 runs each
    python benchmarks/bench_cli.py --runs 15

Builds a throwaway SQLite store in a temporary folder with ``dosing demo`` (not timed), logs in the
demo coordinator and the demo nurse (each in its own ``XDG_STATE_HOME``), then times the wall clock of
the real ``dosing`` subprocess. Floors: ``python -c pass`` for ``dosing --help`` (goal 2x) and
``python -c "import pydantic"`` for every store command (goal 3x). Each ``enroll`` run enrolls a new
subject; each ``record`` run records dose 1 of a subject enrolled by an earlier ``enroll`` run (a fresh
dose every time, signed with ``--password-stdin``).

Prints figures; asserts nothing (speed is not a test).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOSING = str(BIN / "dosing")
PYTHON = str(BIN / "python")


def run(args: list[str], env: dict[str, str], stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True, cwd=env["HOME"])
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def median(runs: int, make_args, env: dict[str, str], stdin: str | None = None, ok=(0,)) -> float:
    return statistics.median(run(make_args(i), env, stdin, ok) for i in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DOSING_", "XDG_"))}
        base.update(HOME=str(home), DOSING_DATABASE_URL=f"sqlite:///{home / 'store.db'}")
        coordinator = dict(base, XDG_STATE_HOME=str(home / "coordinator"))
        nurse = dict(base, XDG_STATE_HOME=str(home / "nurse"))
        demo = subprocess.run(
            [DOSING, "demo", str(ROOT / "examples" / "roster.csv")],
            env=coordinator,
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
        ).stdout
        nurse_password = re.search(r"demo-nurse\s+(\S+)", demo).group(1)  # type: ignore[union-attr]
        subprocess.run(
            [DOSING, "login", "demo-nurse", "--password-stdin"],
            env=nurse,
            input=nurse_password + "\n",
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
        )

        floors = {
            "pass": median(runs, lambda i: [PYTHON, "-c", "pass"], base),
            "pydantic": median(runs, lambda i: [PYTHON, "-c", "import pydantic"], base),
        }
        cases: list[tuple[str, str, float, float]] = []  # name, floor, seconds, goal

        def timed(name: str, floor: str, goal: float, make_args, env, stdin=None, ok=(0,)) -> None:
            cases.append((name, floor, median(runs, make_args, env, stdin, ok), goal))

        timed("dosing --help", "pass", 2, lambda i: [DOSING, "--help"], base)
        timed("dosing status RJ-001", "pydantic", 3, lambda i: [DOSING, "status", "RJ-001"], coordinator)
        timed("dosing overdue", "pydantic", 3, lambda i: [DOSING, "overdue"], coordinator)
        timed(
            "dosing enroll (one subject)",
            "pydantic",
            3,
            lambda i: [
                DOSING,
                "enroll",
                "NCT05871463",
                "--subject",
                f"B-{i:03d}",
                "--weight",
                "58kg",
                "--anchor",
                "2026-12-01",
                "--age",
                "50",
                "--bilirubin",
                "2.5 mg/dL",
                "--albumin",
                "3.0 g/dL",
                "--inr",
                "1.8",
                "--ascites",
                "mild",
                "--encephalopathy",
                "none",
            ],
            coordinator,
        )
        timed(
            "dosing record (signed, fresh dose)",
            "pydantic",
            3,
            lambda i: [
                DOSING,
                "record",
                f"B-{i:03d}",
                "--dose",
                "1",
                "--at",
                "2026-12-01T10:30",
                "--late-reason",
                "benchmark entry",
                "--password-stdin",
            ],
            nurse,
            nurse_password + "\n",
        )
        timed(
            "dosing prep RJ-001 3 (no lot: refused)",
            "pydantic",
            3,
            lambda i: [DOSING, "prep", "RJ-001", "3", "-o", str(home / f"prep-{i}")],
            coordinator,
            ok=(
                0,
                2,
            ),  # the demo store has no lot: the worksheet row is REFUSED (exit 2) after the same reads
        )
        timed(
            "dosing calendar RJ-001",
            "pydantic",
            3,
            lambda i: [DOSING, "calendar", "RJ-001", "-o", str(home / f"cal-{i}.ics")],
            coordinator,
        )
        timed(
            "dosing plan (no store)",
            "pydantic",
            3,
            lambda i: [
                DOSING,
                "plan",
                "NCT04822922",
                "--arm",
                "high",
                "--weight",
                "62kg",
                "--anchor",
                "2026-12-01",
            ],
            base,
        )

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}; median of {runs} runs; wall clock of the subprocess")
    print(f"{'floor python -c pass':40s} {floors['pass'] * 1000:8.0f} ms")
    pydantic_floor = 'floor python -c "import pydantic"'
    print(f"{pydantic_floor:40s} {floors['pydantic'] * 1000:8.0f} ms")
    for name, floor, seconds, goal in cases:
        ratio = seconds / floors[floor]
        verdict = "met" if ratio <= goal else "NOT met"
        print(f"{name:40s} {seconds * 1000:8.0f} ms  {ratio:5.1f}x {floor:8s} (goal {goal:g}x: {verdict})")


if __name__ == "__main__":
    main()
