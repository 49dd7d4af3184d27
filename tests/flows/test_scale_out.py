"""Scale-out: a real Prefect server on PostgreSQL, a serve process, the sweep run through the API.

Everything runs on 127.0.0.1: ``prefect server start`` on a free port backed by the database
``dosing_prefect_test``, ``dosing flows serve`` in its own process, and the dosing store in its own
database ``dosing_flows_test`` (recreated for each run). Every process started here is stopped, with
its whole process group, in a ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFECT_DATABASE = "dosing_prefect_test"
STORE_DATABASE = "dosing_flows_test"
ROSTERS = Path(__file__).parent / "rosters"
#: Upper bounds for things to become ready; the test goes on as soon as they are.
READY_SECONDS = 180

T = TypeVar("T")


def _postgres_or_skip() -> None:
    import psycopg

    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required on CI: {error}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {error}")


def _admin(statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


def _databases() -> set[str]:
    import psycopg

    with psycopg.connect(ADMIN_URL) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(what: str, check: Callable[[], T | None], processes: list[subprocess.Popen[bytes]]) -> T:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args!r} exited with {process.returncode} before {what}")
        value = check()
        if value is not None:
            return value
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what} after {READY_SECONDS} s")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    # A new session: the process and everything it starts (flow-run subprocesses) form one group.
    return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def store_database() -> Iterator[str]:
    _postgres_or_skip()
    drop = [
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{STORE_DATABASE}'",
        f"DROP DATABASE IF EXISTS {STORE_DATABASE}",
    ]
    _admin([*drop, f"CREATE DATABASE {STORE_DATABASE}"])
    if PREFECT_DATABASE not in _databases():
        _admin([f"CREATE DATABASE {PREFECT_DATABASE}"])
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{STORE_DATABASE}"
    from flows.store_access import forget_stores

    forget_stores()


def _health(api_url: str) -> bool | None:
    import httpx

    try:
        return True if httpx.get(f"{api_url}/health", timeout=2).status_code == 200 else None
    except httpx.HTTPError:
        return None


def test_sweep_deployment_runs_on_a_served_process_over_postgresql(
    store_database: str, tmp_path: Path
) -> None:
    from dosing.app import accounts, clock
    from dosing.app.context import Context
    from dosing.store import ledger, open_store
    from flows.enroll import enroll_rows
    from flows.roster import parse_roster

    # The store first: subjects anchored three months ago, whose doses are all missed by now (the sweep
    # judges windows by the server clock).
    store = open_store(store_database)
    admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", "a long test password")
    coordinator = accounts.add_user(
        Context(store=store, actor=admin), "coord", "Co Ordinator", "coordinator", "a long test password"
    )
    text = (ROSTERS / "good.csv").read_text().replace("2026-12-", "2026-08-")
    outcome = enroll_rows(Context(store=store, actor=coordinator), parse_roster(text).rows)
    assert len(outcome["enrolled"]) == 7
    expected = sorted(
        (row.subject_code, row.sequence)
        for row in ledger.overdue(store, clock.now())
        if row.state == "missed"
    )
    assert len(expected) == 20

    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DOSING_"))}
    base_env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_LOGGING_LEVEL="INFO",
    )
    server_env = {
        **base_env,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PREFECT_DATABASE}",
        "PREFECT_UI_ENABLED": "false",
    }
    serve_env = {**base_env, "PREFECT_API_URL": api_url, "DOSING_DATABASE_URL": store_database}
    prefect = str(Path(sys.executable).parent / "prefect")
    dosing = str(Path(sys.executable).parent / "dosing")
    started: list[subprocess.Popen[bytes]] = []
    try:
        server = _start(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            server_env,
            tmp_path / "server.log",
        )
        started.append(server)
        _wait_for("the Prefect server", lambda: _health(api_url), started)

        serve_started = datetime.now(UTC)
        served = _start(
            [dosing, "flows", "serve", "--timezone", "Asia/Shanghai"], serve_env, tmp_path / "serve.log"
        )
        started.append(served)

        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            # The server's database outlives the test: wait for this serve process's registration.
            deployment = _wait_for("the served deployments", lambda: _deployment(serve_started), started)
            assert [schedule.schedule.timezone for schedule in deployment.schedules] == ["Asia/Shanghai"]
            assert deployment.schedules[0].schedule.cron == "0 6 * * *"

            # The missed-dose automation, pointed at a notification block the site configured by name.
            from prefect.automations import Automation
            from prefect.blocks.webhook import Webhook

            with contextlib.suppress(ValueError):  # left by an earlier run on the same server database
                Automation.read(name="dosing-missed-dose-notification").delete()  # type: ignore[union-attr]
            block_id = Webhook(url="http://127.0.0.1:9/coordinator").save("coordinator-test", overwrite=True)
            for verb in ("created", "updated"):  # installing twice updates the same automation
                installed = subprocess.run(
                    [dosing, "flows", "automation", "--block", "webhook/coordinator-test"],
                    env=serve_env,
                    capture_output=True,
                    text=True,
                    timeout=READY_SECONDS,
                )
                assert installed.returncode == 0, installed.stderr
                assert installed.stdout.startswith(verb)
            automation = Automation.read(name="dosing-missed-dose-notification")
            assert automation.trigger.expect == {"dosing.dose.missed"}  # type: ignore[union-attr]
            assert [a.block_document_id for a in automation.actions] == [block_id]  # type: ignore[union-attr]

            from prefect.deployments import run_deployment

            flow_run = run_deployment("missed-dose-sweep/daily-missed-dose-sweep", timeout=READY_SECONDS)
            assert flow_run.state is not None and flow_run.state.is_completed(), (
                flow_run.state,
                (tmp_path / "serve.log").read_text()[-3000:],
            )

        # The served process wrote to the PostgreSQL store, once per missed dose.
        missed = [entry for entry in ledger.audit_trail(store) if entry.action == "missed"]
        assert sorted((e.subject_code, e.after["dose"]) for e in missed if e.after) == expected
        # A scheduled run has no person behind it: it acts as the flow's service account.
        assert all(entry.actor == "svc-missed-dose-sweep" for entry in missed)
    finally:
        for process in reversed(started):
            _stop(process)
    assert all(process.poll() is not None for process in started)


def _deployment(since: datetime) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name("missed-dose-sweep/daily-missed-dose-sweep")
        except ObjectNotFound:
            return None
    return deployment if deployment.updated is not None and deployment.updated >= since else None
