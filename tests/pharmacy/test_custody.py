"""Chain of custody through the application layer, on SQLite and PostgreSQL: stock that runs out, thaws
and their beyond-use time, bags prepared once, verified by someone else, scanned at the bedside."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlmodel import select

from dosing.app import preparation, stock
from dosing.app.administration import record_given
from dosing.app.reads import verify_audit
from dosing.errors import DosingError, HardStop
from dosing.pharmacy.stock import LotStatus
from dosing.store import tables as t
from dosing.store.models import GivenForm
from dosing.store.preparations import PreparationEvent
from dosing.units import Volume
from tests.pharmacy.custody_world import PASSWORD, World, make_world

# NCT04822922 low dose (first cohort), 62 kg: 4 x10^5 viable cells/kg from a 2 x10^6/mL lot at 95%
# viability, rounded half-up to the protocol's 0.1 mL.
DRAW = (Decimal("4e5") * 62 / (Decimal("2e6") * Decimal("0.95"))).quantize(Decimal("0.1"), ROUND_HALF_UP)
LOT = Decimal(20)
# Dose 1 of a subject enrolled on 2026-12-01 starts at 09:00 in Shanghai (01:00 UTC).
BEFORE_DOSE = "2026-12-01T07:30:00+08:00"
AT_BEDSIDE = "2026-12-01T09:05:00+08:00"
STARTED = datetime.fromisoformat("2026-12-01T09:00:00+08:00")


@pytest.fixture
def world(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from make_world(store_url, monkeypatch)


def ready_bag(world: World, subject: str = "S-001") -> str:
    """A thawed container, and a bag for dose 1 prepared, verified and released."""
    world.at(BEFORE_DOSE)
    if not stock.lot_stock(world.ctx("pat"), "L100").containers[0].thawed_at:
        stock.thaw(world.ctx("pat"), "L100", 1)
    bag = preparation.prepare(world.ctx("pat"), subject, 1, PASSWORD)
    preparation.verify(world.ctx("vic"), bag.bag_id, Volume(value=DRAW), "L100", PASSWORD)
    preparation.release(world.ctx("vic"), bag.bag_id, PASSWORD)
    return bag.bag_id


def given(subject: str = "S-001", sequence: int = 1) -> GivenForm:
    return GivenForm(subject_code=subject, sequence=sequence, started_at=STARTED)


def remaining(world: World, lot: str = "L100") -> Decimal:
    return stock.lot_stock(world.ctx("pat"), lot).tally.remaining.value


def test_a_lot_runs_out_and_the_next_dose_is_refused_with_what_is_left(world: World) -> None:
    world.lot("L100")
    world.enroll("S-001")
    world.enroll("S-002")
    world.at(BEFORE_DOSE)
    stock.thaw(world.ctx("pat"), "L100", 1)
    preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    held = stock.lot_stock(world.ctx("pat"), "L100")
    assert (held.tally.reserved.value, held.tally.remaining.value) == (DRAW, LOT - DRAW)
    with pytest.raises(HardStop) as refused:
        preparation.prepare(world.ctx("pat"), "S-002", 1, PASSWORD)
    assert refused.value.field == "volume to draw"
    assert f"more than the {LOT - DRAW} mL left" in refused.value.message
    assert remaining(world) == LOT - DRAW


def test_a_second_container_serves_the_next_dose_once_thawed(world: World) -> None:
    world.lot("L100", containers=2)
    world.enroll("S-001")
    world.enroll("S-002")
    world.at(BEFORE_DOSE)
    stock.thaw(world.ctx("pat"), "L100", 1)
    first = preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    with pytest.raises(HardStop, match="thaw one first: dosing lots thaw L100 --container 2"):
        preparation.prepare(world.ctx("pat"), "S-002", 1, PASSWORD)
    stock.thaw(world.ctx("pat"), "L100", 2)
    second = preparation.prepare(world.ctx("pat"), "S-002", 1, PASSWORD)
    assert (first.preparation.container, second.preparation.container) == (1, 2)
    assert remaining(world) == 2 * LOT - 2 * DRAW


def test_a_thawed_container_is_refused_for_a_dose_outside_its_beyond_use_time(world: World) -> None:
    world.lot("L100", containers=2)
    world.enroll("S-001")
    world.at("2026-12-01T05:00:00+08:00")  # thawed 4 h before the 09:00 dose: usable until 08:00
    thawed = stock.thaw(world.ctx("pat"), "L100", 1)
    assert thawed.use_by == datetime.fromisoformat("2026-12-01T08:00:00+08:00")
    with pytest.raises(HardStop) as refused:
        preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    assert refused.value.field == "thaw"
    assert "only doses that start within its beyond-use time" in refused.value.rule
    assert remaining(world) == 2 * LOT


def test_the_bag_use_by_is_thaw_plus_beyond_use(world: World) -> None:
    world.lot("L100")
    world.enroll("S-001")
    bag_id = ready_bag(world)
    bag = preparation.bag(world.ctx("nora"), bag_id)
    assert bag.preparation.use_by == datetime.fromisoformat("2026-12-01T10:30:00+08:00")  # 07:30 + 3 h
    assert bag.preparation.worksheet["bag_use_by"].startswith("2026-12-01T02:30:00")


def test_preparing_a_dose_twice_is_refused_until_the_bag_is_voided(world: World) -> None:
    world.lot("L100", containers=2)
    world.enroll("S-001")
    world.at(BEFORE_DOSE)
    stock.thaw(world.ctx("pat"), "L100", 1)
    bag = preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    with pytest.raises(HardStop, match=f"already has bag {bag.bag_id}"):
        preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    with pytest.raises(HardStop, match="reason"):
        preparation.void(world.ctx("pat"), bag.bag_id, "  ", PASSWORD)
    preparation.void(world.ctx("pat"), bag.bag_id, "wrong diluent picked", PASSWORD)
    assert remaining(world) == 2 * LOT  # a void returns the reservation
    again = preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    assert again.bag_id != bag.bag_id


def test_the_preparer_cannot_verify(world: World) -> None:
    world.lot("L100")
    world.enroll("S-001")
    world.at(BEFORE_DOSE)
    stock.thaw(world.ctx("pat"), "L100", 1)
    bag = preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    with pytest.raises(HardStop) as refused:
        preparation.verify(world.ctx("pat"), bag.bag_id, Volume(value=DRAW), "L100", PASSWORD)
    assert refused.value.rule == "the person who prepared a bag cannot verify it (independent double check)"
    assert preparation.bag(world.ctx("pat"), bag.bag_id).state == "prepared"


def test_the_verifier_re_enters_the_draw_and_scans_the_lot(world: World) -> None:
    world.lot("L100")
    world.lot("L200")
    world.enroll("S-001")
    world.at(BEFORE_DOSE)
    stock.thaw(world.ctx("pat"), "L100", 1)
    bag = preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD, lot="L100")
    with pytest.raises(HardStop, match="does not match the prepared draw"):
        preparation.verify(
            world.ctx("vic"), bag.bag_id, Volume(value=DRAW + Decimal("0.2")), "L100", PASSWORD
        )
    with pytest.raises(HardStop, match="was prepared from L100"):
        preparation.verify(world.ctx("vic"), bag.bag_id, Volume(value=DRAW), "L200", PASSWORD)
    with pytest.raises(HardStop, match="cannot be released"):
        preparation.release(world.ctx("vic"), bag.bag_id, PASSWORD)
    verified = preparation.verify(
        world.ctx("vic"), bag.bag_id, Volume(value=DRAW + Decimal("0.1")), "L100", PASSWORD
    )
    assert verified.state == "verified"


def _events(world: World) -> tuple[int, int]:
    with world.store.session() as session:
        records = len(session.exec(select(t.AdministrationEvent)).all())
        custody = len(session.exec(select(PreparationEvent)).all())
    return records, custody


def test_a_wrong_bag_at_the_bedside_is_refused_and_nothing_is_recorded(world: World) -> None:
    world.lot("L100", containers=2)
    world.enroll("S-001")
    world.enroll("S-002")
    mine = ready_bag(world, "S-001")
    stock.thaw(world.ctx("pat"), "L100", 2)
    theirs = ready_bag(world, "S-002")
    world.at(AT_BEDSIDE)
    before = _events(world)
    with pytest.raises(HardStop, match=f"{theirs} is for S-002 dose 1, not S-001 dose 1"):
        record_given(world.ctx("nora"), given("S-001"), PASSWORD, bag=theirs)
    assert _events(world) == before
    with world.store.session() as session:
        refusals = session.exec(select(t.AuditEntry).where(t.AuditEntry.action == "refused")).all()
    assert any(f"bedside scan of {theirs} refused" in (entry.reason or "") for entry in refusals)
    record_given(world.ctx("nora"), given("S-001"), PASSWORD, bag=mine)
    assert preparation.bag(world.ctx("nora"), mine).state == "administered"
    lot = stock.lot_stock(world.ctx("pat"), "L100")
    assert (lot.tally.used.value, lot.tally.reserved.value) == (DRAW, DRAW)
    with world.store.session() as session:
        record = session.exec(select(t.AdministrationEvent)).one()
    assert record.lot == "L100"
    assert verify_audit(world.ctx("admin")).problems == []


def test_a_dose_the_pharmacy_prepared_a_bag_for_is_recorded_by_scanning_that_bag(world: World) -> None:
    """Recorded without the scan, the bag would skip the bedside check and stay released on the shelf,
    ready to be given a second time."""
    world.lot("L100")
    world.enroll("S-001")
    bag_id = ready_bag(world)
    world.at(AT_BEDSIDE)
    before = _events(world)
    refusal = f"S-001 dose 1 has bag {bag_id} \\(released\\); scan its label"
    with pytest.raises(HardStop, match=refusal):
        record_given(world.ctx("nora"), given(), PASSWORD)
    with pytest.raises(HardStop, match=refusal):  # the lot typed instead of the bag scanned
        record_given(world.ctx("nora"), given().model_copy(update={"lot": "L100"}), PASSWORD)
    assert _events(world) == before
    assert preparation.bag(world.ctx("nora"), bag_id).state == "released"
    record_given(world.ctx("nora"), given(), PASSWORD, bag=bag_id)
    assert preparation.bag(world.ctx("nora"), bag_id).state == "administered"
    assert verify_audit(world.ctx("admin")).problems == []


def test_a_dose_whose_bag_was_wasted_is_recorded_without_a_scan(world: World) -> None:
    world.lot("L100")
    world.enroll("S-001")
    bag_id = ready_bag(world)
    preparation.waste(world.ctx("pat"), bag_id, "bag punctured on transfer", PASSWORD)
    world.at(AT_BEDSIDE)
    record_given(world.ctx("nora"), given(), PASSWORD)
    assert _events(world)[0] == 1


def test_an_expired_or_unverified_bag_is_refused_at_the_bedside(world: World) -> None:
    world.lot("L100", containers=2)
    world.enroll("S-001")
    world.at(BEFORE_DOSE)
    stock.thaw(world.ctx("pat"), "L100", 1)
    bag = preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
    world.at(AT_BEDSIDE)
    with pytest.raises(HardStop, match="has not been verified"):
        record_given(world.ctx("nora"), given(), PASSWORD, bag=bag.bag_id)
    world.at(BEFORE_DOSE)
    preparation.verify(world.ctx("vic"), bag.bag_id, Volume(value=DRAW), "L100", PASSWORD)
    preparation.release(world.ctx("vic"), bag.bag_id, PASSWORD)
    world.at("2026-12-01T10:31:00+08:00")  # use-by 10:30
    before = _events(world)
    with pytest.raises(HardStop, match="expired at 2026-12-01 02:30 UTC"):
        record_given(world.ctx("nora"), given(), PASSWORD, bag=bag.bag_id)
    assert _events(world) == before


def test_a_wasted_bag_returns_nothing_to_stock_and_is_audited(world: World) -> None:
    world.lot("L100")
    world.enroll("S-001")
    bag_id = ready_bag(world)
    preparation.waste(world.ctx("pat"), bag_id, "bag punctured on transfer", PASSWORD)
    lot = stock.lot_stock(world.ctx("pat"), "L100")
    assert (lot.tally.wasted.value, lot.tally.reserved.value, lot.tally.remaining.value) == (
        DRAW,
        Decimal(0),
        LOT - DRAW,
    )
    with world.store.session() as session:
        entry = session.exec(select(t.AuditEntry).where(t.AuditEntry.action == "bag.wasted")).one()
        signature = session.get(t.Signature, entry.signature_id)
    assert entry.reason == "bag punctured on transfer"
    assert signature is not None and (signature.meaning, signature.username) == ("wasted by", "pat")
    with pytest.raises(HardStop, match="cannot be wasted"):
        preparation.waste(world.ctx("pat"), bag_id, "again", PASSWORD)


def test_lot_quarantine_release_and_retire(world: World) -> None:
    world.lot("L100")
    world.lot("L050", viability="60%")
    world.enroll("S-001")
    pat = world.ctx("pat")
    stock.change_lot_status(pat, "L100", LotStatus.QUARANTINED, "sterility result pending", PASSWORD)
    world.at(BEFORE_DOSE)
    with pytest.raises(HardStop, match="quarantined or retired"):
        stock.thaw(pat, "L100", 1)
    with pytest.raises(HardStop, match="lot L100 is quarantined"):
        preparation.prepare(pat, "S-001", 1, PASSWORD, lot="L100")
    with pytest.raises(HardStop, match="has 60%"):
        stock.change_lot_status(pat, "L050", LotStatus.RELEASED, "release", PASSWORD)
    stock.change_lot_status(pat, "L100", LotStatus.RELEASED, "sterility negative", PASSWORD)
    stock.change_lot_status(pat, "L100", LotStatus.RETIRED, "site closing", PASSWORD)
    with pytest.raises(HardStop, match="retired is final"):
        stock.change_lot_status(pat, "L100", LotStatus.RELEASED, "undo", PASSWORD)
    with pytest.raises(DosingError, match="may not change lot status"):
        stock.change_lot_status(world.ctx("nora"), "L050", LotStatus.RETIRED, "x", PASSWORD)
    assert stock.lot_stock(pat, "L100").status == LotStatus.RETIRED


def test_an_expired_lot_is_never_offered(world: World) -> None:
    world.lot("L100", expiry="2026-11-30")
    world.enroll("S-001")
    world.at(BEFORE_DOSE)
    with pytest.raises(HardStop, match="expired"):
        preparation.prepare(world.ctx("pat"), "S-001", 1, PASSWORD)
