#!/usr/bin/env python
"""Start-up time of the interactive commands (issue 15), each beside its floor, measured in one run.

    python benchmarks/bench_cli.py            # median of 7 runs each
    python benchmarks/bench_cli.py --runs 15

Builds a throwaway SQLite store in a temporary folder with ``dosing demo`` (not timed), logs in the
demo coordinator and the demo nurse (each in its own ``XDG_STATE_HOME``), then times the wall clock of
the real ``dosing`` subprocess. Floors: ``python -c pass`` for ``dosing --help`` (goal 2x) and
``python -c "import pydantic"`` for every store command (goal 3x). Each ``enroll`` run enrolls a new
subject; each ``record`` run records dose 1 of a subject enrolled by an earlier ``enroll`` run (a fresh
dose every time, signed with ``--password-stdin``). Then the same commands again, run by a preloader
(``dosing preload start``, in a socket folder of the temporary one; its own start is printed too).

Prints figures; asserts nothing (speed is not a test).
"""

from __future__ import annotations

import argparse
import json
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


#: One Argon2id verification of a hash the accounts' own hasher made (its cost is in the hash).
SIGNING_FLOOR = "import sys, pydantic, argon2; argon2.PasswordHasher().verify(sys.argv[1], sys.argv[2])"
SIGNING_PASSWORD = "a long test password 2026"


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
        (home / "run").mkdir(mode=0o700)
        base["XDG_RUNTIME_DIR"] = str(home / "run")  # the preloader's socket, in this folder
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

        from dosing.app.passwords import _HASHER

        signing_hash = _HASHER.hash(SIGNING_PASSWORD)
        floors = {
            "pass": median(runs, lambda i: [PYTHON, "-c", "pass"], base),
            "pydantic": median(runs, lambda i: [PYTHON, "-c", "import pydantic"], base),
            # A signed command checks the signer's password: one Argon2id verification, with the
            # hasher the accounts use (deliberately slow), is part of the least it can do.
            "signing": median(
                runs, lambda i: [PYTHON, "-c", SIGNING_FLOOR, signing_hash, SIGNING_PASSWORD], base
            ),
        }
        cases: list[tuple[str, str, float, float]] = []  # name, floor, seconds, goal

        def timed(name: str, floor: str, goal: float, make_args, env, stdin=None, ok=(0,)) -> None:
            cases.append((name, floor, median(runs, make_args, env, stdin, ok), goal))

        timed("dosing --help", "pass", 2, lambda i: [DOSING, "--help"], base)
        run_commands(timed, home, coordinator, nurse, nurse_password, base, "", "B")
        # The same commands again, run by a preloader (`dosing preload start`): one serves both
        # accounts, whose environments differ only in XDG_STATE_HOME.
        started = subprocess.run(
            [DOSING, "preload", "start", "--json"],
            env=coordinator,
            capture_output=True,
            text=True,
            check=True,
        )
        start_seconds = json.loads(started.stdout)["seconds_to_start"]
        try:
            run_commands(timed, home, coordinator, nurse, nurse_password, base, ", preloaded", "C")
        finally:
            subprocess.run([DOSING, "preload", "stop"], env=coordinator, capture_output=True, check=False)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}; median of {runs} runs; wall clock of the subprocess")
    print(f"{'floor python -c pass':51s} {floors['pass'] * 1000:8.0f} ms")
    pydantic_floor = 'floor python -c "import pydantic"'
    print(f"{pydantic_floor:51s} {floors['pydantic'] * 1000:8.0f} ms")
    signing_floor = "floor the same, then one Argon2id verify"
    print(f"{signing_floor:51s} {floors['signing'] * 1000:8.0f} ms")
    for name, floor, seconds, goal in cases:
        ratio = seconds / floors[floor]
        verdict = "met" if ratio <= goal else "NOT met"
        line = f"{name:51s} {seconds * 1000:8.0f} ms  {ratio:5.1f}x {floor:8s} (goal {goal:g}x: {verdict})"
        if name.startswith("dosing record"):
            signed = seconds / floors["signing"]
            line += f"; {signed:.1f}x the signing floor"
        print(line)
    print(f"{'dosing preload start (once: imports everything)':51s} {start_seconds * 1000:8.0f} ms")


def run_commands(
    timed, home: Path, coordinator, nurse, nurse_password: str, base, label: str, prefix: str
) -> None:
    """Each interactive command, timed; ``prefix`` names the subjects each run of ``enroll`` adds."""
    timed(f"dosing status RJ-001{label}", "pydantic", 3, lambda i: [DOSING, "status", "RJ-001"], coordinator)
    timed(f"dosing overdue{label}", "pydantic", 3, lambda i: [DOSING, "overdue"], coordinator)
    timed(
        f"dosing enroll (one subject){label}",
        "pydantic",
        3,
        lambda i: [
            DOSING,
            "enroll",
            "NCT05871463",
            "--subject",
            f"{prefix}-{i:03d}",
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
        f"dosing record (signed, fresh dose){label}",
        "pydantic",
        3,
        lambda i: [
            DOSING,
            "record",
            f"{prefix}-{i:03d}",
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
        f"dosing prep RJ-001 3 (no lot: refused){label}",
        "pydantic",
        3,
        lambda i: [DOSING, "prep", "RJ-001", "3", "-o", str(home / f"prep{prefix}-{i}")],
        coordinator,
        ok=(
            0,
            2,
        ),  # the demo store has no lot: the worksheet row is REFUSED (exit 2) after the same reads
    )
    timed(
        f"dosing calendar RJ-001{label}",
        "pydantic",
        3,
        lambda i: [DOSING, "calendar", "RJ-001", "-o", str(home / f"cal{prefix}-{i}.ics")],
        coordinator,
    )
    timed(
        f"dosing plan (no store){label}",
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


if __name__ == "__main__":
    main()
