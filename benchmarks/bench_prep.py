#!/usr/bin/env python
"""How long a day's preparation queue takes: worksheets computed, and PDF/CSV/JSON + label written.

    python benchmarks/bench_prep.py                  # 200 doses, best of 3
    python benchmarks/bench_prep.py --doses 1000 --repeat 1

Prints figures; asserts nothing (speed is not a test).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from dosing.catalog import get_protocol
from dosing.pharmacy.lots import Lot
from dosing.pharmacy.render import (
    label_pdf,
    worksheet_csv,
    worksheet_json,
    worksheet_pdf,
    write_worksheet_files,
)
from dosing.pharmacy.worksheet import DoseToPrepare, Worksheet, build_worksheet, doses_from_plan
from dosing.plan import PatientInputs, plan_patient
from dosing.units import Weight


def queue(count: int) -> list[DoseToPrepare]:
    protocol = get_protocol("NCT04822922")
    doses: list[DoseToPrepare] = []
    patient = 0
    while len(doses) < count:
        plan = plan_patient(
            protocol,
            PatientInputs(
                arm="high",
                weight=Weight.kg(50 + patient % 40),
                anchor=date(2026, 12, 1) + timedelta(days=patient % 30),
            ),
        )
        doses += doses_from_plan(plan, f"S-{patient:05d}")
        patient += 1
    return doses[:count]


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--doses", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    protocol = get_protocol("NCT04822922")
    lot = Lot.checked(
        {
            "product": "UC-MSC",
            "din": "G123498654321",
            "check_character": "H",
            "concentration": "4 x10^6 cells/mL",
            "viability": "95%",
            "volume": "50 mL",
            "expiry": "2028-12-31",
        }
    )
    doses = queue(args.doses)
    sheets: list[Worksheet] = []

    def compute() -> None:
        sheets[:] = [build_worksheet(protocol, dose, lot, do_not_dispense_days=2) for dose in doses]

    n = len(doses)
    rows = [("worksheets computed (lot checks + dose.prepare)", best(args.repeat, compute))]
    rows.append(("worksheet PDF", best(args.repeat, lambda: [worksheet_pdf(s) for s in sheets])))
    rows.append(("label PDF", best(args.repeat, lambda: [label_pdf(s) for s in sheets])))
    rows.append(
        ("CSV + JSON", best(args.repeat, lambda: [(worksheet_csv(s), worksheet_json(s)) for s in sheets]))
    )
    with tempfile.TemporaryDirectory() as folder:
        rows.append(
            (
                "all four files written",
                best(args.repeat, lambda: [write_worksheet_files(s, Path(folder)) for s in sheets]),
            )
        )
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
    print(f"{n} doses, best of {args.repeat}")
    for name, seconds in rows:
        print(f"  {name:<50} {seconds * 1000:9.1f} ms total  {seconds / n * 1000:7.2f} ms/dose")
    print(f"  files on disk: {size / n / 1024:.1f} KiB per dose")


if __name__ == "__main__":
    main()
