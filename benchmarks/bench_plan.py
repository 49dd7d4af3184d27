#!/usr/bin/env python
"""How fast the core plans patients against a stdlib floor, and how fast the CLI starts.

    python benchmarks/bench_plan.py                 # 10,000 patients, best of 3; 10 CLI runs each
    python benchmarks/bench_plan.py --patients 2000 --repeat 1 --runs 5
    python benchmarks/bench_plan.py --profile       # cProfile of the planning loop (top 25)

The floor (benchmarks/plan_floor.py) makes the same plans with datetime, zoneinfo and Decimal into
plain tuples; the run checks both agree patient by patient before printing anything. Time is the best
CPU time of ``--repeat`` runs (the machine is shared: wall time measures the neighbours too); peak
memory is tracemalloc's over one run that keeps every plan, caches emptied first. Prints figures and
ratios; asserts nothing about speed (speed is not a test).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from plan_floor import FloorProtocol, Plan, floor_plan, rows_of_floor, rows_of_plan

from dosing import plan, schedule
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


def floor_all(cohort: list[tuple[str, PatientInputs]], protocols: dict[str, FloorProtocol]) -> list[Plan]:
    return [
        floor_plan(
            protocols[protocol_id],
            inputs.arm,
            inputs.weight.value,
            inputs.anchor,  # type: ignore[arg-type]  # the cohort's anchors are dates
            inputs.dose_per_kg.value if inputs.dose_per_kg is not None else None,
        )
        for protocol_id, inputs in cohort
    ]


def _clear_caches() -> None:
    """Empty the core's caches, so each run pays for filling them (and its memory counts them).

    Looked up by name: the same script measures older versions of the core (PYTHONPATH=an export).
    """
    caches = [(schedule, "_local_start"), (schedule, "_MOVED"), (schedule, "_DAYS"), (plan, "_DERIVED")]
    for module, name in caches:
        cache = getattr(module, name, None)
        if cache is not None:
            getattr(cache, "cache_clear", getattr(cache, "clear", None))()


def measure(run: Callable[[], Any], repeat: int, warm: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best CPU seconds, peak traced MiB, the last result); caches emptied before every run."""
    times = []
    result: Any = None
    for _ in range(repeat):
        _clear_caches()
        warm()
        result = None
        gc.collect()
        started = time.process_time()
        result = run()
        times.append(time.process_time() - started)
    result = None
    _clear_caches()
    warm()
    gc.collect()
    tracemalloc.start()
    result = run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return min(times), peak / 2**20, result


def bench_core(count: int, repeat: int) -> None:
    cohort = patients(count)
    protocols = {protocol_id: FloorProtocol(get_protocol(protocol_id)) for protocol_id, _, _ in MIX}
    core_time, core_peak, plans = measure(lambda: plan_all(cohort), repeat, lambda: plan_all(cohort[:50]))
    floor_time, floor_peak, floors = measure(
        lambda: floor_all(cohort, protocols), repeat, lambda: floor_all(cohort[:50], protocols)
    )
    for index, (core, floor) in enumerate(zip(plans, floors, strict=True)):
        if rows_of_plan(core) != rows_of_floor(floor):
            raise SystemExit(f"patient {index}: the floor and the core disagree:\n{core}\n{floor}")
    doses = sum(len(p.administrations) for p in plans)
    assessments = sum(len(p.assessments) for p in plans)
    print(f"plan {count} patients ({doses} doses, {assessments} assessments), CPU time best of {repeat}")
    print("  (core and floor agree on every patient)")
    print(
        f"  core  (dosing.plan.plan_patient)   {core_time:6.2f} s  {count / core_time:8,.0f}/s  "
        f"peak {core_peak:6.1f} MiB"
    )
    print(
        f"  floor (datetime+zoneinfo+Decimal)  {floor_time:6.2f} s  {count / floor_time:8,.0f}/s  "
        f"peak {floor_peak:6.1f} MiB"
    )
    print(
        f"  ratio core / floor: time {core_time / floor_time:.2f}x, peak memory {core_peak / floor_peak:.2f}x"
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI start-up figures")
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    if options.profile:
        profile(options.patients)
        return
    print(f"python {sys.version.split()[0]}")
    bench_core(options.patients, options.repeat)
    if not options.no_cli:
        bench_cli(options.runs)


if __name__ == "__main__":
    main()
