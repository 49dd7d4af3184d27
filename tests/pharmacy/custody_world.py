"""A pharmacy and a ward on a real store, driven through the application layer with a set clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from dosing.app import accounts, clock
from dosing.app.context import Actor, Context
from dosing.app.lot_register import register_lot
from dosing.pharmacy.lots import Lot
from dosing.store import Store, ledger, open_store
from tests.store.conftest import enrollment

PASSWORD = "a long test password 2026"


@dataclass
class World:
    store: Store
    monkeypatch: pytest.MonkeyPatch
    people: dict[str, Context] = field(default_factory=dict)

    def at(self, moment: str) -> None:
        instant = datetime.fromisoformat(moment).astimezone(UTC)
        self.monkeypatch.setattr(clock, "now", lambda: instant)

    def ctx(self, name: str) -> Context:
        return self.people[name]

    def enroll(self, subject: str, **extra: Any) -> None:
        ledger.enroll(self.store, enrollment(subject=subject, arm="low", **extra))

    def lot(
        self, number: str = "L100", *, containers: int = 1, volume: str = "20 mL", **changes: Any
    ) -> None:
        fields: dict[str, Any] = {
            "product": "UC-MSC",
            "lot_number": number,
            "concentration": "2 x10^6 cells/mL",
            "viability": "95%",
            "volume": volume,
            "expiry": date(2027, 12, 31),
            **changes,
        }
        register_lot(self.ctx("pat"), Lot.checked(fields), containers=containers)


def make_world(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    store = open_store(store_url)
    world = World(store=store, monkeypatch=monkeypatch)
    world.at("2026-11-30T08:00:00+00:00")
    admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", PASSWORD)
    admin_ctx = Context(store, admin)
    world.people["admin"] = admin_ctx
    for username, name, roles in (
        ("pat", "Pat Preparer", "pharmacist"),
        ("vic", "Vic Verifier", "pharmacist"),
        ("nora", "Nora Nurse", "nurse"),
    ):
        actor: Actor = accounts.add_user(admin_ctx, username, name, roles, PASSWORD)
        world.people[username] = Context(store, actor)
    yield world
    store.dispose()


def ml(text: str) -> Decimal:
    return Decimal(text)
