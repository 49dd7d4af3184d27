"""``dosing flows run`` on a terminal says what it is doing: the server start, rows enrolled, files
written. Under a pseudo-terminal, as a person would see it; a pipe gets the result alone (see
test_cli_flows.py)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from tests.flows.acting import signed_in_cli

DOSING = Path(sys.executable).parent / "dosing"
ROSTERS = Path(__file__).parent / "rosters"


def test_a_roster_run_on_a_terminal_reports_its_progress(tmp_path: Path) -> None:
    env = signed_in_cli(tmp_path, f"sqlite:///{tmp_path / 'd.db'}").env
    controller, terminal = pty.openpty()
    run = subprocess.Popen(
        [str(DOSING), "flows", "run", "enroll-roster", str(ROSTERS / "good.csv"), "--batch-size", "3",
         "--calendars", str(tmp_path / "calendars")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    first_line_after: float | None = None
    started = time.monotonic()
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        if first_line_after is None:
            first_line_after = time.monotonic() - started
        seen += chunk
    stdout, _ = run.communicate(timeout=300)
    os.close(controller)
    assert run.returncode == 0, seen.decode(errors="replace")
    progress = seen.decode().replace("\r\n", "\n").splitlines()
    assert progress[0].startswith("starting Prefect's temporary local server")
    # The server notice comes first, before its start-up (not timed: the machine is shared).
    assert first_line_after is not None
    assert "roster: 7 rows to enroll, 0 refused while reading" in progress
    assert [line.strip() for line in progress if "rows done" in line] == [
        "3 of 7 rows done (3 enrolled so far)",
        "6 of 7 rows done (6 enrolled so far)",
        "7 of 7 rows done (7 enrolled so far)",
    ]
    assert any(
        line.startswith("calendars of renji-shanghai: ") and "files written" in line for line in progress
    )
    assert "Traceback" not in seen.decode()
    assert stdout.startswith("enrolled 7, already enrolled 0, rejected 0")  # the result, on stdout
