"""Scale-out with a work pool: every deployment of prefect.yaml (the sweep and the prep list) deployed
with ``prefect deploy --all`` and run by a process worker, then the prep list run again from ``dosing
flows serve``; Prefect's own listing commands work against the same server.

The same machinery as test_scale_out.py (a real ``prefect server start`` on PostgreSQL, the dosing store
in its own PostgreSQL database, everything on 127.0.0.1, every process stopped with its group).
The worker and the served process find the store in their own environment (DOSING_DATABASE_URL), never
in the deployment.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.flows.test_scale_out import (
    PREFECT_DATABASE,
    READY_SECONDS,
    _free_port,
    _health,
    _start,
    _stop,
    _wait_for,
    store_database,  # noqa: F401 (fixture)
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SWEEP = "missed-dose-sweep/daily-missed-dose-sweep"
PREP = "pharmacy-prep-list/prep-before-shift"


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=READY_SECONDS)


def _run_deployment(name: str, parameters: dict[str, object], log: Path) -> None:
    from prefect.deployments import run_deployment

    flow_run = run_deployment(name, parameters=parameters, timeout=READY_SECONDS)
    assert flow_run.state is not None and flow_run.state.is_completed(), (
        name,
        flow_run.state,
        log.read_text()[-4000:],
    )


def test_every_deployment_runs_on_a_worker_and_on_a_served_process(
    store_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from dosing.store import ledger, open_store
    from tests.store.conftest import enrollment

    # Subjects whose first doses fall in the next two days, so that the prep list has lines to write.
    store = open_store(store_database)
    today = datetime.now(UTC).date()
    tomorrow = date.fromordinal(today.toordinal() + 1)  # dose 1 at 09:00 local tomorrow: ahead of now
    for number in range(1, 4):
        ledger.enroll(
            store,
            enrollment(subject=f"W-{number:03d}", anchor=tomorrow, as_of=datetime.now(UTC).isoformat()),
        )
    store.dispose()

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
    # Whoever deploys has no store URL at all: the deployment cannot carry one.
    deploy_env = {**base_env, "PREFECT_API_URL": api_url, "DOSING_PROJECT_DIR": str(ROOT)}
    worker_env = {**deploy_env, "DOSING_DATABASE_URL": store_database}
    bin_dir = Path(sys.executable).parent
    prefect, dosing = str(bin_dir / "prefect"), str(bin_dir / "dosing")
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(
            _start(
                [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                server_env,
                tmp_path / "server.log",
            )
        )
        _wait_for("the Prefect server", lambda: _health(api_url), started)

        pool = _run(
            [prefect, "work-pool", "create", "dosing-pool", "--type", "process", "--overwrite"], deploy_env
        )
        assert pool.returncode == 0, pool.stdout + pool.stderr
        deployed = _run([prefect, "--no-prompt", "deploy", "--all"], deploy_env)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]

        listed = _run([prefect, "deployment", "ls"], {**deploy_env, "COLUMNS": "300"})  # untruncated
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "daily-missed-dose-sweep" in listed.stdout and "prep-before-shift" in listed.stdout

        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            with get_client(sync_client=True) as client:
                for name in (SWEEP, PREP):
                    env = client.read_deployment_by_name(name).job_variables.get("env", {})
                    assert "DOSING_DATABASE_URL" not in env, name

            worker_log = tmp_path / "worker.log"
            started.append(
                _start([prefect, "worker", "start", "--pool", "dosing-pool"], worker_env, worker_log)
            )
            prep_csv = tmp_path / "worker-prep.csv"
            _run_deployment(PREP, {"hours": 48, "out": str(prep_csv)}, worker_log)
            _run_deployment(SWEEP, {}, worker_log)
            with prep_csv.open() as handle:
                lines = list(csv.DictReader(handle))
            assert {line["subject_code"] for line in lines} == {"W-001", "W-002", "W-003"}
            assert all(date.fromisoformat(line["planned_start"][:10]) >= today for line in lines)

            runs = _run([prefect, "flow-run", "ls"], {**deploy_env, "COLUMNS": "300"})
            assert runs.returncode == 0, runs.stdout + runs.stderr
            assert "Completed" in runs.stdout or "COMPLETED" in runs.stdout

            # The same two deployments served from one process (no work pool): the prep list again.
            _stop(started.pop())
            serve_started = datetime.now(UTC)
            serve_log = tmp_path / "serve.log"
            started.append(
                _start([dosing, "flows", "serve", "--timezone", "Asia/Shanghai"], worker_env, serve_log)
            )

            def served() -> bool | None:
                # The serve process registers the same deployment again: wait for its update.
                with get_client(sync_client=True) as client:
                    deployment = client.read_deployment_by_name(PREP)
                return (
                    True if deployment.updated is not None and deployment.updated >= serve_started else None
                )

            _wait_for("the served deployments", served, started)
            served_csv = tmp_path / "served-prep.csv"
            _run_deployment(PREP, {"hours": 48, "out": str(served_csv)}, serve_log)
            assert served_csv.read_text() == prep_csv.read_text()
    finally:
        for process in reversed(started):
            _stop(process)
    assert all(process.poll() is not None for process in started)
