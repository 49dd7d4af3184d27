"""Who the flows act as in the ops tests: a coordinator account on the test's store.

In process, a flow runs inside ``acting_as(coordinator)`` (as ``dosing flows run`` does for the person
logged in); through the command line, the test account of ``tests.dosing_cli`` logs in first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.dosing_cli import TESTER, DosingCLI

PASSWORD = "a long test password 2026"


def coordinator(url: str) -> Any:
    """A coordinator account on the store at ``url`` (created with the first admin when needed)."""
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.store import open_store

    store = open_store(url)
    admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", PASSWORD)
    as_admin = Context(store=store, actor=admin)
    actor = accounts.add_user(as_admin, "coord", "Co Ordinator", "coordinator", PASSWORD)
    store.dispose()
    return actor


def signed_in_cli(tmp_path: Path, url: str, clock: str | None = None, **env: str) -> DosingCLI:
    """``dosing`` logged in as the test account, with a Prefect home of its own and no other PREFECT_*."""
    cli = DosingCLI(tmp_path, url)
    cli.env = {k: v for k, v in cli.env.items() if not k.startswith("PREFECT_")}
    cli.env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), **env)
    cli.login(TESTER, clock)
    return cli
