#!/usr/bin/env python
"""How fast the core plans patients, and how fast the CLI starts.

    python benchmarks/bench_plan.py                 # 10,000 patients, 10 CLI runs each
    python benchmarks/bench_plan.py --patients 2000 --runs 5
    python benchmarks/bench_plan.py --profile       # cProfile of the planning loop (top 25)

Prints figures; asserts nothing (speed is not a test).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from dosing.catalog import get_protocol
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.units import DosePerKg, Weight

#: (protocol, arm, dose per kg chosen per patient?) for every study that takes patients.
MIX = [
    ("NCT04822922", "low", False),
    ("NCT04822922", "middle", False),
    ("NCT04822922", "high", False),
    ("MSC-ACLF-WEEKLY", "msc", True),
    ("MSC-ACLF-WEEKLY", "smt", False),
    ("SYSU3-MSCEV-LT", "msc-ev", False),
    ("SYSU3-MSCEV-LT", "control", False),
    ("NCT05871463", "exosome", False),
]


def patients(count: int, seed: int = 20261201) -> list[tuple[str, PatientInputs]]:
    rng = random.Random(seed)
    cohort = []
    for _ in range(count):
        protocol_id, arm, per_kg = rng.choice(MIX)
        protocol = get_protocol(protocol_id)
        weight = Weight(value=Decimal(rng.randint(500, 1200)) / 10)
        anchor = date(2026, 1, 1) + timedelta(days=rng.randint(0, 5 * 365))
        chosen = None
        if per_kg:
            chosen = DosePerKg(
                value=Decimal(rng.randint(10, 100)).scaleb(4), amount_unit=protocol.product.amount_unit
            )
        cohort.append((protocol_id, PatientInputs(arm=arm, weight=weight, anchor=anchor, dose_per_kg=chosen)))
    return cohort


def plan_all(cohort: list[tuple[str, PatientInputs]]) -> list[PatientPlan]:
    return [plan_patient(get_protocol(protocol_id), inputs) for protocol_id, inputs in cohort]


def bench_core(count: int) -> None:
    cohort = patients(count)
    plan_all(cohort[:50])  # warm the protocol library and caches
    started = time.perf_counter()
    plans = plan_all(cohort)
    elapsed = time.perf_counter() - started
    doses = sum(len(p.administrations) for p in plans)
    assessments = sum(len(p.assessments) for p in plans)
    print(
        f"core: {count} patients ({doses} doses, {assessments} assessments) in {elapsed:.2f} s "
        f"= {count / elapsed:,.0f} patients/s"
    )


def median_run(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_cli(runs: int) -> None:
    dosing = str(Path(sys.executable).parent / "dosing")
    plan_args = [dosing, "plan", "NCT04822922", "--arm", "high", "--weight", "62kg", "--anchor", "2026-12-01"]
    help_median = median_run([dosing, "--help"], runs)
    plan_median = median_run(plan_args, runs)
    bare_median = median_run([sys.executable, "-c", "pass"], runs)
    print(f"cli: dosing --help          median of {runs}: {help_median * 1000:.0f} ms")
    print("cli: dosing plan NCT04822922 --arm high --weight 62kg --anchor 2026-12-01")
    print(f"                            median of {runs}: {plan_median * 1000:.0f} ms")
    print(f"     (python -c pass        median of {runs}: {bare_median * 1000:.0f} ms, for reference)")


def profile(count: int) -> None:
    import cProfile
    import pstats

    cohort = patients(count)
    plan_all(cohort[:50])
    profiler = cProfile.Profile()
    profiler.enable()
    plan_all(cohort)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    if options.profile:
        profile(options.patients)
        return
    print(f"python {sys.version.split()[0]}")
    bench_core(options.patients)
    bench_cli(options.runs)


if __name__ == "__main__":
    main()
