"""Placebo bags in a masked protocol: the same worksheet and life cycle, and a label that looks the same
as the product's, so the blind holds at the bedside; only the worksheet says what is in the bag."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from dosing.app import preparation
from dosing.app.administration import record_given
from dosing.catalog import get_protocol
from dosing.pharmacy.label import BLINDED_DESCRIPTION, bag_label, layout, printed_text, symbols
from dosing.pharmacy.placebo import PlaceboWorksheet, masked, placebo_label
from dosing.pharmacy.render import worksheet_csv
from dosing.pharmacy.worksheet import Worksheet
from dosing.store import ledger
from dosing.store.models import GivenForm
from dosing.store.stock import StockMovement
from dosing.units import Volume
from tests.pharmacy.custody_world import PASSWORD, World, make_world
from tests.store.conftest import enrollment

PROTOCOL = "NCT05940610"  # MSC-EVs or 100 mL saline, 1:1; withdrawn, so enrollment is opened in the test
MORNING = "2026-12-01T06:00:00+08:00"


@pytest.fixture
def world(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # The only masked protocol in the library was withdrawn before enrolling; open it for this test.
    for where in ("dosing.store.ledger.enrollment", "dosing.plan"):
        monkeypatch.setattr(f"{where}.check_study_takes_patients", lambda protocol: None)
    yield from make_world(store_url, monkeypatch)


def test_a_protocol_with_a_placebo_arm_is_masked() -> None:
    assert masked(get_protocol(PROTOCOL))
    assert not masked(get_protocol("NCT04822922"))


def enroll_both_arms(world: World) -> dict[str, str]:
    """subject code -> arm, four subjects (one permuted block: both arms)."""
    arms = {}
    for number in range(1, 5):
        code = f"P-{number:03d}"
        arms[code] = ledger.enroll(
            world.store, enrollment(PROTOCOL, code, as_of="2026-11-30T22:30:00+00:00")
        ).arm
    assert set(arms.values()) == {"msc-ev", "control"}
    return arms


def test_a_placebo_bag_goes_through_the_same_chain_and_its_label_looks_the_same(world: World) -> None:
    arms = enroll_both_arms(world)
    active = next(code for code, arm in arms.items() if arm == "msc-ev")
    dummy = next(code for code, arm in arms.items() if arm == "control")
    world.lot("EV-01", product="MSC-EV", concentration="1e9 particles/mL", viability=None, volume="20 mL")
    world.at(MORNING)
    product_bag = preparation.prepare(world.ctx("pat"), active, 1, PASSWORD)
    placebo_bag = preparation.prepare(world.ctx("pat"), dummy, 1, PASSWORD)
    placebo_row = placebo_bag.preparation
    assert (placebo_row.placebo, placebo_row.lot_id, placebo_row.final_volume_ml) == (True, None, 100)
    # No thaw: the use-by is preparation + the site's 24 h, the same for both bags made at the same time.
    assert placebo_row.use_by == datetime.fromisoformat(MORNING) + timedelta(hours=24)
    assert product_bag.preparation.use_by == placebo_row.use_by
    with pytest.raises(Exception, match="already has bag"):
        preparation.prepare(world.ctx("pat"), dummy, 1, PASSWORD)

    preparation.verify(
        world.ctx("vic"), placebo_bag.bag_id, Volume(value=placebo_row.final_volume_ml), None, PASSWORD
    )
    preparation.release(world.ctx("vic"), placebo_bag.bag_id, PASSWORD)
    world.at("2026-12-01T10:05:00+08:00")
    form = GivenForm(
        subject_code=dummy, sequence=1, started_at=datetime.fromisoformat("2026-12-01T10:00:00+08:00")
    )
    record_given(world.ctx("nora"), form, PASSWORD, bag=placebo_bag.bag_id)
    assert preparation.bag(world.ctx("nora"), placebo_bag.bag_id).state == "administered"
    with world.store.session() as session:
        assert (
            session.exec(select(StockMovement).where(StockMovement.preparation_id == placebo_row.id)).all()
            == []
        )

    # The two labels: same fields in the same places; nothing names the product, the amount or the lot.
    sheet = Worksheet.model_validate(product_bag.preparation.worksheet)
    placebo_sheet = PlaceboWorksheet.model_validate(placebo_row.worksheet)
    product_label = layout(
        bag_label(sheet, verified_by="V", product_code="E1234V00", facility="F", blinded=True)
    )
    dummy_label = layout(placebo_label(placebo_sheet, verified_by="V", facility="F"))

    def anonymous(elements: list[object], bag_id: str, subject: str) -> list[str]:
        return [line.replace(bag_id, "BAG").replace(subject, "SUBJECT") for line in printed_text(elements)]  # type: ignore[arg-type]

    assert anonymous(product_label, product_bag.bag_id, active) == anonymous(
        dummy_label, placebo_bag.bag_id, dummy
    )
    assert [type(e).__name__ for e in product_label] == [type(e).__name__ for e in dummy_label]
    assert [(e.x, e.y) for e in product_label] == [(e.x, e.y) for e in dummy_label]  # type: ignore[union-attr]
    text = " ".join(printed_text(product_label) + printed_text(dummy_label))
    assert BLINDED_DESCRIPTION in text
    for revealing in ("MSC-EV", "particles", "EV-01", "E1234V00", "PLACEBO", "sodium chloride"):
        assert revealing not in text, revealing
    assert symbols(dummy_label)[0] == placebo_bag.bag_id and symbols(product_label)[0] == product_bag.bag_id
    # Only the pharmacy's worksheet says what is in the bag.
    rows = dict(csv.reader(io.StringIO(worksheet_csv(placebo_sheet))))
    assert rows["Contents (pharmacy only)"] == "PLACEBO: 100 mL 0.9% sodium chloride"
    assert rows["Label reads"] == BLINDED_DESCRIPTION
