"""Lots in a real store (SQLite file; PostgreSQL when reachable), and the pharmacy's reads of the ledger."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from dosing.catalog import get_protocol
from dosing.errors import DosingError, HardStop
from dosing.pharmacy.worksheet import build_worksheet
from dosing.store import Store, open_store
from dosing.store.lots import (
    add_lot,
    check_lot_reference,
    dose_of_subject,
    doses_due,
    get_lot,
    list_lots,
    reference_identifier,
)
from dosing.store.models import EnrollmentRequest, GivenRequest
from dosing.store.tables import AuditEntry
from dosing.units import parse_weight
from tests.eligible import ELIGIBLE
from tests.pharmacy.examples import DIN, make_lot

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> Iterator[str]:
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"dosing_pharmacy_{uuid.uuid4().hex[:10]}"
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as error:  # the server is down or refuses
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable: {error}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'dosing.db'}")
        yield opened
        opened.dispose()
        return
    urls = _postgres_url()
    opened = open_store(next(urls))
    yield opened
    opened.dispose()
    urls.close()


def enroll_62kg_low(store: Store, code: str = "S-001", anchor: date = date(2026, 12, 1)) -> None:
    """The first escalation cohort of NCT04822922 is the low dose (4 x10^5 cells/kg)."""
    from dosing.store import ledger

    ledger.enroll(
        store,
        EnrollmentRequest(
            actor="coordinator",
            as_of=NOW,
            protocol_id="NCT04822922",
            eligibility=ELIGIBLE,
            subject_code=code,
            arm="low",
            weight=parse_weight("62 kg"),
            weight_measured_on=date(2026, 11, 24),
            anchor=anchor,
        ),
    )


def _scripts(store):
    from alembic.script import ScriptDirectory

    from dosing.store.db import alembic_config

    return ScriptDirectory.from_config(alembic_config(store.url))


def test_schema_has_the_lots_table_after_the_ledgers(store):
    # 0001 (ledger) -> pharmacy_0001 (lots) -> 0002 -> 0003 (accounts, chain) -> ... -> custody_0001
    head = store.head_revision()
    assert store.current_revision() == head
    assert {"0001", "pharmacy_0001", "0002", "0003", "custody_0001"} <= {
        script.revision for script in _scripts(store).iterate_revisions(head, "base")
    }
    tables = set(inspect(store.engine).get_table_names())
    assert {"lots", "stock_movements", "preparations", "preparation_events", "container_thaws"} <= tables


def test_register_and_list_lots_soonest_expiry_first(store):
    add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    add_lot(
        store,
        make_lot(din=None, check_character=None, lot_number="UCMSC-017", expiry="2027-01-31"),
        actor="pharmacist",
        as_of=NOW,
    )
    listed = list_lots(store)
    assert [item.lot.identifier for item in listed] == ["UCMSC-017", DIN]
    assert listed[1].lot == make_lot()
    assert listed[1].lot.concentration.value == Decimal("2E+6")
    assert listed[1].registered_by == "pharmacist"
    assert list_lots(store, product="MSC") == []


def test_a_lot_is_registered_once(store):
    add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    with pytest.raises(DosingError, match="already registered"):
        add_lot(store, make_lot(volume="10 mL"), actor="pharmacist", as_of=NOW)
    assert len(list_lots(store)) == 1


def test_registration_is_audited(store):
    registered = add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    (entry,) = audit_entries(store, "lot.registered")
    assert (entry.actor, entry.entity, entry.entity_id) == ("pharmacist", "lot", registered.id)
    assert entry.after is not None and entry.after["din"] == DIN


def test_lots_cannot_be_rewritten(store):
    add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    for statement in ("UPDATE lots SET volume_ml = '500'", "DELETE FROM lots"):
        with pytest.raises(DBAPIError, match="append-only"), store.transaction() as session:
            session.execute(text(statement))
    assert list_lots(store)[0].lot.volume.value == 50


@pytest.mark.parametrize(
    ("typed", "identifier"),
    [
        ("=G12349865432100", DIN),  # scanned ISBT 128 DIN data structure
        ("g1234 98 654321", DIN),  # eye-readable groups
        (DIN, DIN),
        (" UCMSC-017 ", "UCMSC-017"),
    ],
)
def test_typed_or_scanned_references(typed, identifier):
    assert reference_identifier(typed) == identifier


def test_check_lot_reference_for_the_ledger(store):
    add_lot(store, make_lot(expiry="2026-12-05"), actor="pharmacist", as_of=NOW)
    add_lot(
        store, make_lot(din=None, check_character=None, lot_number="OTHER"), actor="pharmacist", as_of=NOW
    )
    with store.session() as session:
        assert (
            check_lot_reference(session, lot=None, din=None, protocol="NCT04822922", on=date(2026, 12, 1))
            is None
        )
        found = check_lot_reference(
            session, lot="=G12349865432100", din=None, protocol="NCT04822922", on=date(2026, 12, 1)
        )
        assert found is not None and (found.din, found.lot_number) == (DIN, None)
        with pytest.raises(HardStop, match="not registered"):
            check_lot_reference(session, lot="NOPE", din=None, protocol="NCT04822922", on=date(2026, 12, 1))
        with pytest.raises(HardStop, match="different lots"):
            check_lot_reference(session, lot="OTHER", din=DIN, protocol="NCT04822922", on=date(2026, 12, 1))
        with pytest.raises(HardStop, match="expired"):
            check_lot_reference(session, lot=DIN, din=None, protocol="NCT04822922", on=date(2026, 12, 6))
        with pytest.raises(HardStop, match="do-not-dispense"):
            check_lot_reference(
                session,
                lot=None,
                din=DIN,
                protocol="NCT04822922",
                on=date(2026, 12, 4),
                do_not_dispense_days=2,
            )
        with pytest.raises(HardStop) as other_product:
            check_lot_reference(session, lot=DIN, din=None, protocol="NCT05871463", on=date(2026, 12, 1))
        assert other_product.value.field == "product"


def test_worksheet_for_a_stored_low_dose_subject(store):
    enroll_62kg_low(store)
    add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    dose = dose_of_subject(store, "S-001", 1, as_of=NOW)
    sheet = build_worksheet(get_protocol("NCT04822922"), dose, get_lot(store, DIN), do_not_dispense_days=2)
    # 4 x10^5 cells/kg x 62 kg = 2.48 x10^7 cells; / (2 x10^6 x 0.95) = 13.05 mL -> 13.1 mL
    assert str(sheet.ordered_dose) == "2.48 x10^7 cells"
    assert (str(sheet.preparation.volume_to_draw), str(sheet.preparation.diluent)) == ("13.1 mL", "86.9 mL")
    assert sheet.weight_measured_on == date(2026, 11, 24)
    assert sheet.dose_per_kg is not None and str(sheet.dose_per_kg) == "4 x10^5 cells/kg"


def test_unknown_dose_of_a_subject_is_refused(store):
    enroll_62kg_low(store)
    with pytest.raises(DosingError, match="no dose 9"):
        dose_of_subject(store, "S-001", 9, as_of=NOW)


def test_queue_holds_the_doses_planned_in_the_range(store):
    enroll_62kg_low(store, "S-001", date(2026, 12, 1))
    enroll_62kg_low(store, "S-002", date(2026, 12, 2))
    # 1-4 December, Shanghai time: S-001 doses 1 (1 Dec) and 2 (4 Dec), S-002 dose 1 (2 Dec).
    start = datetime(2026, 12, 1, tzinfo=get_zone())
    end = datetime(2026, 12, 5, tzinfo=get_zone())
    queue = doses_due(store, start, end, as_of=NOW)
    assert [(d.subject_code, d.sequence, d.target_date.day) for d in queue] == [
        ("S-001", 1, 1),
        ("S-002", 1, 2),
        ("S-001", 2, 4),
    ]


def test_recorded_dose_leaves_the_queue_and_keeps_its_lot_in_the_audit_trail(store):
    from dosing.store import ledger

    enroll_62kg_low(store)
    add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    started = datetime(2026, 12, 1, 9, 5, tzinfo=get_zone())
    with store.session() as session:
        lot = check_lot_reference(
            session, lot="=G12349865432100", din=None, protocol="NCT04822922", on=started.date()
        )
    assert lot is not None
    ledger.record_given(
        store,
        GivenRequest(
            actor="nurse",
            as_of=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
            subject_code="S-001",
            sequence=1,
            started_at=started,
            lot=lot.lot_number,
            din=lot.din,
            volume=make_lot().volume.model_copy(update={"value": Decimal(100)}),
        ),
    )
    view = ledger.subject_view(store, "S-001", datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    assert view.doses[0].given is not None and view.doses[0].given.din == DIN
    (entry,) = audit_entries(store, "record_given")
    assert entry.after is not None and entry.after["din"] == DIN
    queue = doses_due(
        store,
        datetime(2026, 12, 1, tzinfo=get_zone()),
        datetime(2026, 12, 2, tzinfo=get_zone()),
        as_of=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
    )
    assert queue == []
    with pytest.raises(HardStop, match="prepared once"):
        dose_of_subject(store, "S-001", 1, as_of=datetime(2026, 12, 1, 3, 0, tzinfo=UTC))


def audit_entries(store: Store, action: str) -> list[AuditEntry]:
    """Audit rows, copied out of the read session (which expires what it loaded when it closes)."""
    with store.session() as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == action)).all()
        return [AuditEntry.model_validate(row.model_dump()) for row in rows]


def get_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_lots_revision_downgrades_and_upgrades_again(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'dosing.db'}")
    from alembic import command

    from dosing.store.db import alembic_config

    command.downgrade(alembic_config(store.url), "0001")
    assert "lots" not in inspect(store.engine).get_table_names()
    store.upgrade()
    assert "lots" in inspect(store.engine).get_table_names()
    add_lot(store, make_lot(), actor="pharmacist", as_of=NOW)
    assert len(list_lots(store)) == 1
    store.dispose()
