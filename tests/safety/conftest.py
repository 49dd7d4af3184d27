"""The issue 9 scenarios replayed through the CLI (subprocess), on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dosing_cli import DosingCLI
from tests.eligible import ELIGIBLE_OPTIONS
from tests.store.conftest import pg_schema_url, sqlite_url, store_url  # noqa: F401 (fixtures)

Run = Callable[..., subprocess.CompletedProcess[str]]

#: Wall clocks of the ward machines (records are stamped by the system clock, set with libfaketime).
SHANGHAI = "+08:00"


@pytest.fixture
def dosing(tmp_path: Path, store_url: str) -> Run:  # noqa: F811
    # These tests are about the inclusion inputs: they give them (or leave them out) themselves.
    cli = DosingCLI(tmp_path, store_url, eligible_by_default=False)

    def run(
        *args: str, ok: bool = True, clock: str | None = None, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        saved = dict(cli.env)
        cli.env.update(extra_env or {})
        try:
            return cli(*args, ok=ok, clock=clock)
        finally:
            cli.env.clear()
            cli.env.update(saved)

    return run


def refused(result: subprocess.CompletedProcess[str], field: str, *words: str) -> str:
    """Exit 2, one ``error: <field>: <why> (rule: ...)`` line, no traceback; returns the message."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"error: {field}: " in result.stderr and "(rule: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


#: Entries about sessions and accounts (a test logs in again at each clock), not about the ledger.
_SESSION_ACTIONS = {
    "login", "logout", "account_created", "account_disabled", "account_locked", "password_reset",
}  # fmt: skip


def audit_count(dosing: Run) -> int:
    """Entries the ledger's changes wrote: a refusal must leave this unchanged."""
    entries = json.loads(dosing("audit", "--json").stdout)
    return sum(1 for entry in entries if entry["action"] not in _SESSION_ACTIONS)


def enroll_low(dosing: Run, subject: str = "S-001", *extra: str) -> None:
    """NCT04822922, low dose, 62 kg, enrolled on 2026-12-01 (dose 1 on day 1, doses 2-4 on days 4, 7, 10)."""
    dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS, "--subject", subject, "--arm", "low", "--weight", "62kg",
        "--anchor", "2026-12-01", *extra, clock="2026-12-01T08:00+08:00",
    )  # fmt: skip


def register_lot(
    dosing: Run,
    lot: str = "L123",
    *,
    viability: str = "95%",
    product: str = "UC-MSC",
    concentration: str = "2e6/mL",
    volume: str = "50mL",
) -> subprocess.CompletedProcess[str]:
    return dosing(
        "lots", "add", "--lot-number", lot, "--product", product, "--concentration", concentration,
        "--viability", viability, "--volume", volume, "--expiry", "2027-12-31",
        clock="2026-11-01T00:00:00+00:00",
    )  # fmt: skip


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)
