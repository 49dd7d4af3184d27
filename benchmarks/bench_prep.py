#!/usr/bin/env python
"""How long a day's preparation queue takes: worksheets computed, and PDF/CSV/JSON + label written;
then the same day's queue through the chain of custody on a real store.

    python benchmarks/bench_prep.py                  # 200 doses, best of 3
    python benchmarks/bench_prep.py --doses 1000 --repeat 1
    python benchmarks/bench_prep.py --custody-only   # only the custody part
    DOSING_BENCH_URL=postgresql+psycopg://... python benchmarks/bench_prep.py --custody-only

The custody part enrolls subjects (not timed) until ``--doses`` product doses start on one day, thaws
the containers they need, then times each step for every dose through the application layer, as the
pharmacy runs it: ``prepare`` (signed, one transaction: stock read, reservation, audit), ``verify`` by a
second pharmacist (signed), ``release`` (signed), and the ISBT 128 label and worksheet files (PDF, ZPL,
CSV, JSON). The floor is the three password checks a bag's signatures cost (argon2 verify: deliberately
slow); the ratio says how much the rest adds.

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


def custody(doses_wanted: int, url: str | None) -> None:
    """A day's queue prepared, verified, released and labelled through the application layer."""
    from datetime import UTC, datetime

    from dosing.app import accounts, clock, preparation, stock
    from dosing.app.context import Context
    from dosing.app.lot_register import register_lot
    from dosing.app.passwords import hash_password, password_matches
    from dosing.pharmacy.custody import BagState
    from dosing.pharmacy.label import bag_label
    from dosing.pharmacy.render import write_bag_files
    from dosing.store import ledger, open_store
    from dosing.store.models import EnrollmentRequest
    from dosing.units import Volume, parse_dose_per_kg

    password = "a long benchmark password 2026"
    day = date(2027, 3, 1)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(url or f"sqlite:///{folder}/bench.db")
        # 06:00 at the site (Asia/Shanghai); the doses start at 09:00, within 3 h of the thaw.
        now = datetime(2027, 2, 28, 22, 0, tzinfo=UTC)
        clock.now = lambda: now  # type: ignore[assignment]  # the server clock, held still for the run
        admin = Context(store, accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", password))
        pat = Context(store, accounts.add_user(admin, "pat", "Pat Preparer", "pharmacist", password))
        vic = Context(store, accounts.add_user(admin, "vic", "Vic Verifier", "pharmacist", password))
        per_kg = parse_dose_per_kg("5 x10^5 cells/kg")
        subjects: list[str] = []
        number = 0
        while len(subjects) < doses_wanted:
            number += 1
            code = f"B-{number:05d}"
            enrolled = ledger.enroll(
                store,
                EnrollmentRequest(
                    protocol_id="MSC-ACLF-WEEKLY",
                    subject_code=code,
                    weight=Weight.kg(70),
                    dose_per_kg=per_kg,
                    anchor=day,
                    actor="bench",
                    as_of=now,
                ),
            )
            if enrolled.arm == "msc":
                subjects.append(code)
        # 70 kg x 5 x10^5/kg from 4 x10^6/mL at 95%: 9.2 mL a bag, five bags a 50 mL container.
        containers = doses_wanted // 5 + 1
        lot = Lot.checked(
            {
                "product": "MSC",
                "din": "G123498654321",
                "check_character": "H",
                "concentration": "4 x10^6 cells/mL",
                "viability": "95%",
                "volume": "50 mL",
                "expiry": "2028-12-31",
            }
        )
        register_lot(pat, lot, containers=containers)
        started = time.perf_counter()
        for container in range(1, containers + 1):
            stock.thaw(pat, lot.identifier, container)
        thawing = time.perf_counter() - started

        def timed(work: Callable[[], object]) -> float:
            start = time.perf_counter()
            work()
            return time.perf_counter() - start

        bags: list[str] = []
        steps = [
            (
                "prepare (signed, reserved, audited)",
                timed(
                    lambda: bags.extend(
                        preparation.prepare(pat, code, 1, password).bag_id for code in subjects
                    )
                ),
            ),
        ]
        drawn = Volume(value=preparation.bag(pat, bags[0]).preparation.volume_to_draw_ml)
        steps.append(
            (
                "verify by a second pharmacist (signed)",
                timed(
                    lambda: [preparation.verify(vic, bag, drawn, lot.identifier, password) for bag in bags]
                ),
            )
        )
        steps.append(
            ("release (signed)", timed(lambda: [preparation.release(vic, bag, password) for bag in bags]))
        )

        def labels() -> None:
            from dosing.pharmacy.worksheet import Worksheet

            for bag_id in bags:
                bag = preparation.bag(pat, bag_id)
                verified = bag.by_state(BagState.VERIFIED)
                assert verified is not None
                sheet = Worksheet.model_validate(bag.preparation.worksheet)
                label = bag_label(
                    sheet, verified_by=verified.by_name, product_code="S1398V00", facility="bench"
                )
                write_bag_files(sheet, label, Path(folder) / "bags")

        steps.append(("label + worksheet files (PDF, ZPL, CSV, JSON)", timed(labels)))
        stored = hash_password(password)
        floor = timed(lambda: [password_matches(stored, password) for _ in range(3 * len(bags))])
        store.dispose()
    n = len(bags)
    total = sum(seconds for _, seconds in steps)
    print(
        f"\ncustody: {n} doses on {store.dialect}, {containers} containers thawed in {thawing * 1000:.0f} ms"
    )
    for name, seconds in steps:
        print(f"  {name:<50} {seconds * 1000:9.1f} ms total  {seconds / n * 1000:7.2f} ms/dose")
    print(f"  {'all four steps':<50} {total * 1000:9.1f} ms total  {total / n * 1000:7.2f} ms/dose")
    print(f"  floor: 3 argon2 password checks per bag          {floor * 1000:9.1f} ms total")
    print(f"  ratio to the floor: {total / floor:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--doses", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--custody-only", action="store_true")
    args = parser.parse_args()
    if not args.custody_only:
        worksheets(args)
    import os

    custody(args.doses, os.environ.get("DOSING_BENCH_URL"))


def worksheets(args: argparse.Namespace) -> None:

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
