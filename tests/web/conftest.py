"""The web application under test: a real SQLite store, real accounts, the server clock set by the test.

Records are stamped by ``dosing.app.clock.now``; the tests replace it in this process with a clock
that starts at a chosen instant and runs on (``WebClock``), so the in-process server (TestClient, or
uvicorn in a thread for the browser tests) sees a ward's morning in Shanghai. Data is created through
the application layer, as the pages do.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dosing.app import accounts, clock
from dosing.app.context import Actor, Context
from dosing.store import Store, open_store
from tests.calendars.conftest import ical_js, reader  # noqa: F401  (the real calendar parsers, as fixtures)

PASSWORD = "a long web test password"
#: username -> (printed name, roles)
PEOPLE = {
    "nurse": ("Nora Nurse", "nurse"),
    "pharmacist": ("Phil Pharmacist", "pharmacist"),
    "checker": ("Chris Checker", "pharmacist"),
    "coordinator": ("Cora Coordinator", "coordinator,investigator"),
}
SHANGHAI = "+08:00"
ENROLLED = datetime.fromisoformat(f"2026-12-01T08:00{SHANGHAI}")
#: The ward's morning of dose 2 of S-001 (NCT04822922: days 1, 4, 7, 10; windows 0/+1 day).
WARD_MORNING = datetime.fromisoformat(f"2026-12-04T09:30{SHANGHAI}")
DIN = "G123498654321"
SCANNED_BAG = "=G12349865432100"


class WebClock:
    """A server clock that starts at ``start`` and runs on with real time; ``set`` jumps it."""

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def set(self, moment: datetime) -> None:
        self._base = moment.astimezone(UTC)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._started)


@dataclass
class World:
    store: Store
    clock: WebClock
    actors: dict[str, Actor]

    def ctx(self, username: str) -> Context:
        return Context(store=self.store, actor=self.actors[username])


@pytest.fixture
def web_clock(monkeypatch: pytest.MonkeyPatch) -> WebClock:
    fake = WebClock(ENROLLED)
    monkeypatch.setattr(clock, "now", fake.now)
    return fake


@pytest.fixture
def world(tmp_path: Path, web_clock: WebClock) -> Iterator[World]:
    """Accounts, a registered lot, and two subjects enrolled on 2026-12-01 (S-001) and 2026-12-02."""
    from dosing.app.enrollment_entry import enroll_typed
    from dosing.app.lot_register import register_lot
    from dosing.pharmacy.lots import Lot
    from dosing.units import AmountUnit, parse_concentration, parse_percent, parse_volume

    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", PASSWORD)
    actors = {"admin": admin}
    for username, (name, roles) in PEOPLE.items():
        actors[username] = accounts.add_user(Context(store, admin), username, name, roles, PASSWORD)
    found = World(store=store, clock=web_clock, actors=actors)
    register_lot(
        found.ctx("pharmacist"),
        Lot.checked(
            {
                "product": "UC-MSC",
                "din": DIN,
                "check_character": "H",
                "concentration": parse_concentration("2e6/mL", default_unit=AmountUnit.CELLS),
                "viability": parse_percent("95%"),
                "volume": parse_volume("50mL"),
                "expiry": datetime(2027, 12, 31).date(),
            }
        ),
    )
    for code, anchor in (("S-001", "2026-12-01"), ("S-002", "2026-12-02")):
        enroll_typed(
            found.ctx("coordinator"),
            protocol_id="NCT04822922",
            subject_code=code,
            weight="62kg",
            arm="low",
            anchor=anchor,
            age="50", creatinine="1.5 mg/dL", bilirubin="10 mg/dL", inr="1.8", albumin="3.0 g/dL",
            ascites="mild", encephalopathy="none",
        )
    web_clock.set(WARD_MORNING)
    yield found
    store.dispose()


@pytest.fixture
def app(world: World):  # type: ignore[no-untyped-def]
    from dosing.web.app import create_app

    return create_app(world.store)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page carries a CSRF token"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the login form; returns a page's CSRF token for the session."""
    form = client.get("/login")
    token = csrf_of(form.text)
    response = client.post("/login", data={"username": username, "password": password, "csrf": token})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/feeds").text)


def api_token(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The application served by uvicorn on loopback, in a thread of this process (same clock)."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
