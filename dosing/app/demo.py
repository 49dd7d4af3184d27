"""Demo accounts (and a demo lot and subjects) on an empty store, for ``dosing web --demo``.

Only on a store with no account at all: a demo never touches a store that holds real accounts. Each
password is random and printed once by the command.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from dosing.app import accounts, clock
from dosing.app.context import Context
from dosing.errors import DosingError
from dosing.store.db import Store

#: username -> (printed name, roles)
#: The same names as ``dosing demo``'s accounts.
DEMO_ACCOUNTS = {
    "demo-admin": ("Demo Admin", "admin"),
    "demo-coordinator": ("Demo Coordinator", "coordinator,investigator"),
    "demo-nurse": ("Demo Nurse", "nurse"),
    "demo-pharmacist": ("Demo Pharmacist", "pharmacist"),
    "demo-checker": ("Demo Checker", "pharmacist"),
}
DEMO_PROTOCOL = "NCT04822922"
#: An ISBT 128 DIN with its check character (the example of ICCBBA's documents).
DEMO_DIN = ("G123498654321", "H")


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(12)


def create_demo(store: Store) -> dict[str, str]:
    """Accounts with random passwords (returned), a lot of the demo product, two subjects from today."""
    if not accounts.needs_bootstrap(store):
        raise DosingError("demo", "an empty store (no account yet)", "this store already has accounts")
    passwords = {name: _password() for name in DEMO_ACCOUNTS}
    name, roles = DEMO_ACCOUNTS["demo-admin"]
    admin = accounts.bootstrap_admin(store, "demo-admin", name, roles, passwords["demo-admin"])
    ctx = Context(store=store, actor=admin)
    actors = {}
    for username, (full_name, held) in DEMO_ACCOUNTS.items():
        if username != "demo-admin":
            actors[username] = accounts.add_user(ctx, username, full_name, held, passwords[username])
    _demo_data(
        Context(store=store, actor=actors["demo-pharmacist"]),
        Context(store=store, actor=actors["demo-coordinator"]),
    )
    return passwords


def _demo_data(pharmacist: Context, coordinator: Context) -> None:
    from dosing.app.enrollment_entry import enroll_typed
    from dosing.app.lot_register import register_lot
    from dosing.catalog import get_protocol
    from dosing.pharmacy.lots import Lot
    from dosing.status import local_date
    from dosing.units import parse_concentration, parse_percent, parse_volume

    protocol = get_protocol(DEMO_PROTOCOL)
    today = local_date(clock.now(), protocol.site(None).timezone)
    register_lot(
        pharmacist,
        Lot.checked(
            {
                "product": protocol.product.name,
                "din": DEMO_DIN[0],
                "check_character": DEMO_DIN[1],
                "concentration": parse_concentration("2e6/mL", default_unit=protocol.product.amount_unit),
                "viability": parse_percent("95%"),
                "volume": parse_volume("50mL"),
                "expiry": today + timedelta(days=365),
            }
        ),
    )
    for code, days_ago in (("DEMO-001", 0), ("DEMO-002", 3)):
        enroll_typed(
            coordinator,
            protocol_id=DEMO_PROTOCOL,
            subject_code=code,
            weight="62kg",
            arm="low",
            anchor=(today - timedelta(days=days_ago)).isoformat(),
            age="50", creatinine="1.5 mg/dL", bilirubin="10 mg/dL", inr="1.8", albumin="3.0 g/dL",
            ascites="mild", encephalopathy="none",
        )
