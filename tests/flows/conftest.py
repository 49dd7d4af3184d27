"""One Prefect server for the whole session of flow tests (starting one costs 15-30 s).

Only tests in this folder use it, and only those that ask for it (``prefect_server``): roster parsing
and the other logic-only tests run without Prefect at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before Prefect is imported anywhere: no telemetry, and time for a slow machine to start the server.
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite store for one test; the flows' cached store handles are dropped after it."""
    from flows.store_access import forget_stores

    url = f"sqlite:///{tmp_path / 'dosing.db'}"
    yield url
    forget_stores()
