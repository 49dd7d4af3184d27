"""Killing ``dosing flows run`` stops the temporary Prefect server it started.

The command runs in its own session, so every process it starts (the temporary server) shares its
session id; after the command is signalled and has exited, no process of that session may be left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.acting import signed_in_cli

DOSING = Path(sys.executable).parent / "dosing"
ROSTERS = Path(__file__).parent / "rosters"


def _session_members(session: int) -> list[tuple[int, str]]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getsid(int(entry.name)) == session:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                members.append((int(entry.name), command))
    return members


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process sessions from /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signalled_flow_run_leaves_no_server_behind(tmp_path: Path, stop: signal.Signals) -> None:
    env = signed_in_cli(tmp_path, f"sqlite:///{tmp_path / 'd.db'}").env
    run = subprocess.Popen(
        [str(DOSING), "flows", "run", "enroll-roster", str(ROSTERS / "good.csv")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not any("uvicorn" in command for _, command in _session_members(run.pid)):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the temporary server never started"
            time.sleep(0.2)
        os.kill(run.pid, stop)  # the command alone, as `kill PID` or a supervisor would
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert stderr.startswith(f"interrupted ({stop.name}): the temporary Prefect server was stopped")
        deadline = time.monotonic() + 15
        while _session_members(run.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_members(run.pid) == []
    finally:
        for pid, _ in _session_members(run.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
            run.wait()
