"""The temporary server ``dosing flows run`` starts before Prefect is imported (flows/local_server.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from flows.local_server import LocalServer, LocalServerError, local_run_settings
from tests.flows.acting import signed_in_cli

DOSING = Path(sys.executable).parent / "dosing"


@pytest.fixture
def prefect_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The server gets this process's environment: its own PREFECT_HOME, and PREFECT_API_URL restored after.
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.setenv("PREFECT_API_URL", os.environ.get("PREFECT_API_URL", ""))
    return tmp_path / "prefect-home"


def test_the_server_answers_then_stops(prefect_home: Path) -> None:
    server = LocalServer().start()
    try:
        assert os.environ["PREFECT_API_URL"] == server.api_url  # known before Prefect is imported
        server.wait_until_ready()
        with urllib.request.urlopen(f"{server.api_url}/health", timeout=5) as response:
            assert response.status == 200
        process = server.process
        assert process is not None
    finally:
        server.stop()
    assert process.poll() is not None and server.process is None
    server.stop()  # twice: harmless
    assert (prefect_home / "prefect.db").exists()  # Prefect's own database, in its home


def test_a_server_that_cannot_start_is_refused_in_one_line(
    prefect_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Its database cannot be opened: uvicorn exits with 3 ("cannot start"), as when its port is taken,
    # so it is tried on other ports, then refused (Prefect's own loop would try again forever).
    nowhere = tmp_path / "no-such-folder" / "prefect.db"
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{nowhere}")
    server = LocalServer().start()
    with pytest.raises(LocalServerError, match=r"exited with status 3 \(3 tries\); run with --verbose"):
        server.wait_until_ready(timeout=300)
    assert server.process is None


def test_a_server_that_does_not_answer_in_time_is_stopped(prefect_home: Path) -> None:
    server = LocalServer().start()
    process = server.process
    assert process is not None
    with pytest.raises(LocalServerError, match=r"did not answer within 0\.001 s"):
        server.wait_until_ready(timeout=0.001)
    assert process.poll() is not None and server.process is None


def test_runs_on_the_local_server_have_no_heartbeat_thread() -> None:
    from prefect.settings import get_current_settings

    server = LocalServer()
    server.port = 4321
    assert get_current_settings().flows.heartbeat_frequency is not None  # Prefect's default: 180 s
    with local_run_settings(server):
        settings = get_current_settings()
        assert settings.flows.heartbeat_frequency is None
        assert settings.api.url == "http://127.0.0.1:4321/api"
    assert get_current_settings().flows.heartbeat_frequency is not None


def test_dosing_flows_run_says_in_one_line_when_the_server_cannot_start(tmp_path: Path) -> None:
    env = signed_in_cli(tmp_path, f"sqlite:///{tmp_path / 'd.db'}").env
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'nowhere' / 'p.db'}"
    result = subprocess.run(
        [str(DOSING), "flows", "run", "sweep"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: prefect server: Prefect's temporary server exited with status 3")
    assert "(rule: the temporary server answers within" in result.stderr
