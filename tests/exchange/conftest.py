"""A ledger with every outcome an export must get right, on SQLite and on PostgreSQL.

NCT04822922, low arm (62 kg, 4 x10^5 cells/kg: 2.48 x10^7 cells a dose), Shanghai, anchored on
1 December 2026, seen on 12 December:
- S-001: dose 1 given (lot L123); dose 2 skipped for an adverse event; dose 3 partial (12400000.5
  cells of lot L124, stopped for a reaction); dose 4 missed (window closed 11 December).
- S-002: dose 1 skipped with a reason naming a doctor; dose 2 given on 4 December (its first dose, so
  its study days count from there); doses 3 and 4 missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dosing.store import Store, ledger, open_store
from dosing.store.models import GivenRequest, SkipRequest
from dosing.units import Amount, AmountUnit
from tests.store.conftest import (  # noqa: F401  (fixtures)
    at,
    enrollment,
    pg_schema_url,
    register_lots,
    sqlite_url,
    store_url,
)

if TYPE_CHECKING:
    from dosing.app.context import Context

AS_OF = "2026-12-12T12:00:00+08:00"


def _given(subject: str, sequence: int, start: str, **values: object) -> GivenRequest:
    return GivenRequest(
        subject_code=subject,
        sequence=sequence,
        started_at=at(start),
        actor="nurse-a",
        as_of=at(start),
        **values,  # type: ignore[arg-type]
    )


def _skip(subject: str, sequence: int, reason: str, when: str) -> SkipRequest:
    return SkipRequest(
        subject_code=subject, sequence=sequence, reason=reason, actor="nurse-a", as_of=at(when)
    )


def fill(store: Store) -> None:
    register_lots(store, "L123", "L124")
    ledger.enroll(store, enrollment(arm="low"))
    ledger.enroll(store, enrollment(subject="S-002", arm="low", as_of="2026-12-01T00:40:00+00:00"))
    ledger.record_given(
        store, _given("S-001", 1, "2026-12-01T09:30+08:00", ended_at=at("2026-12-01T10:00+08:00"), lot="L123")
    )
    ledger.record_skipped(store, _skip("S-001", 2, "adverse event", "2026-12-04T08:00+08:00"))
    ledger.record_given(
        store,
        _given(
            "S-001",
            3,
            "2026-12-08T09:10+08:00",
            amount=Amount(value=Decimal("12400000.5"), unit=AmountUnit.CELLS),
            partial=True,
            lot="L124",
            route="iv",
            given_by="nurse-b",
            infusion_reaction="fever 39.1 C, infusion stopped",
        ),
    )
    ledger.record_skipped(store, _skip("S-002", 1, "refused, see Dr. Wang", "2026-12-01T08:00+08:00"))
    ledger.record_given(store, _given("S-002", 2, "2026-12-04T09:15+08:00", lot="L123"))


PASSWORD = "a long test password 2026"
MANAGER = "dana"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its smallest cost: these tests are about exports, not password strength (the
    accounts tests use the real parameters), and each test creates its accounts afresh."""
    from argon2 import PasswordHasher

    from dosing.app import passwords

    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def accounts(store: Store) -> None:
    """An admin, a data manager (who may export) and a nurse (who may not)."""
    from dosing.app.accounts import add_user, bootstrap_admin
    from dosing.app.context import Context

    admin = Context(store=store, actor=bootstrap_admin(store, "admin", "Ada Admin", "admin", PASSWORD))
    add_user(admin, MANAGER, "Dana Manager", "data-manager", PASSWORD)
    add_user(admin, "nina", "Nina Nurse", "nurse", PASSWORD)


def signed_in(store: Store, username: str = MANAGER) -> Context:
    from dosing.app.accounts import login
    from dosing.app.context import Context

    _, actor = login(store, username, PASSWORD)
    return Context(store=store, actor=actor)


@pytest.fixture
def dosed_store(store_url: str) -> Iterator[Store]:  # noqa: F811
    opened = open_store(store_url)
    fill(opened)
    accounts(opened)
    yield opened
    opened.dispose()


@pytest.fixture
def manager(dosed_store: Store) -> Context:
    """The data manager's authenticated context (what the application layer hands a use case)."""
    return signed_in(dosed_store)


@pytest.fixture
def dosed_url(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    """The same ledger in a SQLite file with the data manager logged in, for the command line."""
    from dosing.app.accounts import login
    from dosing.cli.session import save_token

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    opened = open_store(sqlite_url)
    fill(opened)
    accounts(opened)
    token, _ = login(opened, MANAGER, PASSWORD)
    save_token(MANAGER, token, sqlite_url)
    opened.dispose()
    yield sqlite_url
