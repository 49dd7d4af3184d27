"""The issue 9 scenarios replayed through the CLI (subprocess), on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.eligible import ELIGIBLE_OPTIONS
from tests.store.conftest import pg_schema_url, sqlite_url, store_url  # noqa: F401 (fixtures)

DOSING = Path(sys.executable).parent / "dosing"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dosing(tmp_path: Path, store_url: str) -> Run:  # noqa: F811
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "DOSING_DATABASE_URL": store_url,
        "USER": "nurse-a",
        "NO_COLOR": "1",
        "DO_NOT_TRACK": "1",
    }

    def run(
        *args: str, ok: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(DOSING), *args],
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    return run


def refused(result: subprocess.CompletedProcess[str], field: str, *words: str) -> str:
    """Exit 2, one ``error: <field>: <why> (rule: ...)`` line, no traceback; returns the message."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"error: {field}: " in result.stderr and "(rule: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def audit_count(dosing: Run) -> int:
    return len(json.loads(dosing("audit", "--json").stdout))


def enroll_low(dosing: Run, subject: str = "S-001", *extra: str) -> None:
    """NCT04822922, low dose, 62 kg, enrolled on 2026-12-01 (dose 1 on day 1, doses 2-4 on days 4, 7, 10)."""
    dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS, "--subject", subject, "--arm", "low", "--weight", "62kg",
        "--anchor", "2026-12-01", "--as-of", "2026-12-01T08:00", *extra,
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
        "--as-of", "2026-11-01T00:00:00+00:00",
    )  # fmt: skip


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)
