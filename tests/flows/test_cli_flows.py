"""``dosing flows run ...`` through the installed entry point, as a coordinator runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dosing_cli import PASSWORD, TESTER, faketime_env, sign_in_here

ROSTERS = Path(__file__).parent / "rosters"


def _dosing() -> list[str]:
    found = shutil.which("dosing", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "dosing"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        DOSING_DATABASE_URL=f"sqlite:///{tmp_path / 'dosing.db'}",
        **extra,
    )
    return env


def test_a_local_run_on_the_temporary_server_prints_only_the_result(tmp_path: Path) -> None:
    """No server set up: Prefect's temporary server starts and stops without a word on the terminal."""
    env = _env(tmp_path, XDG_STATE_HOME=str(tmp_path / "state"))
    sign_in_here(env["DOSING_DATABASE_URL"], tmp_path / "state")
    enroll = subprocess.run(
        [*_dosing(), "flows", "run", "enroll-roster", str(ROSTERS / "with-bad-rows.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Bad rows make the exit status 1 (a script can tell), and each is listed by line.
    assert enroll.returncode == 1, enroll.stderr
    assert enroll.stderr == ""
    lines = enroll.stdout.splitlines()
    assert lines[0] == "enrolled 3, already enrolled 0, rejected 7 (of 10 rows in with-bad-rows.csv)"
    assert [line.split(" ")[3] for line in lines[1:]] == ["3", "4", "5", "6", "7", "8", "9"]
    for noise in ("Traceback", "Error flushing", "temporary server", "INFO", "WARNING"):
        assert noise not in enroll.stdout

    # The sweep judges windows by the system clock: log in and run it on 1 March 2027.
    march = {**env, **faketime_env("2027-03-01T00:00+00:00")}
    login = subprocess.run(
        [*_dosing(), "login", TESTER, "--password-stdin"],
        env=march,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert login.returncode == 0, login.stderr
    sweep = subprocess.run(
        [*_dosing(), "flows", "run", "sweep", "--json"],
        env=march,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sweep.returncode == 0, sweep.stderr
    assert sweep.stderr == ""
    import json

    summary = json.loads(sweep.stdout)
    assert summary["newly_missed"] == 12  # three subjects x four doses
    assert {dose["subject_code"] for dose in summary["doses"]} == {"RJ-101", "RJ-107", "RJ-108"}


def test_serve_refuses_without_a_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [*_dosing(), "flows", "serve", "--timezone", "Asia/Shanghai"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "PREFECT_API_URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["prep", "--hours", "0"], "hours"),
        (["sweep", "--as-of", "2027-03-01T00:00+00:00"], "as of"),
    ],
)
def test_bad_options_are_refused_before_prefect_starts(tmp_path: Path, args: list[str], field: str) -> None:
    result = subprocess.run(
        [*_dosing(), "flows", "run", *args], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {field}:")
    assert not (tmp_path / "prefect-home").exists()  # Prefect never started
