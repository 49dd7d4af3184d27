"""Fixtures for the pharmacy tests."""

from __future__ import annotations

import pytest

from dosing.pharmacy.lots import Lot
from dosing.pharmacy.worksheet import DoseToPrepare
from tests.pharmacy.examples import high_dose_62kg, make_lot


@pytest.fixture
def lot() -> Lot:
    return make_lot()


@pytest.fixture
def first_dose() -> DoseToPrepare:
    return high_dose_62kg()[0]


# The store tests' databases (SQLite file and a PostgreSQL schema per test), for the custody tests.
from tests.store.conftest import pg_schema_url, sqlite_url, store_url  # noqa: E402, F401
