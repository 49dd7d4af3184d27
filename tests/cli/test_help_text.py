"""``dosing --help`` answers from dosing/cli/help.txt without importing click (issue 15): the text must be
click's own rendering, and every other command line must still reach click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOSING = Path(sys.executable).parent / "dosing"
sys.path.insert(0, str(ROOT / "scripts"))

from write_help import HELP, rendered_help  # noqa: E402


def _dosing(*args: str, columns: str = "200") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": columns}
    return subprocess.run([str(DOSING), *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_stored_help_is_what_click_renders() -> None:
    assert HELP.read_text(encoding="utf-8") == rendered_help(), "run: python scripts/write_help.py"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_dosing_help_prints_the_stored_text_without_importing_click(flag: str) -> None:
    env = {**os.environ, "COLUMNS": "200", "PYTHONVERBOSE": "1"}  # every import is logged on stderr
    result = subprocess.run([str(DOSING), flag], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == HELP.read_text(encoding="utf-8")
    imported = [line for line in result.stderr.splitlines() if line.startswith("import ")]
    assert imported and not [line for line in imported if "click" in line or "pydantic" in line]


def test_a_narrow_terminal_and_every_other_command_line_reach_click() -> None:
    narrow = _dosing("--help", columns="60")
    assert narrow.returncode == 0 and narrow.stdout != HELP.read_text(encoding="utf-8")
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 58  # click wrapped it to the terminal
    assert _dosing("--version").stdout.startswith("dosing, version ")
    plan_help = _dosing("plan", "--help")
    assert plan_help.returncode == 0 and "Usage: dosing plan [OPTIONS] PROTOCOL_ID" in plan_help.stdout
    unknown = _dosing("--helpp")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: helpp: No such option '--helpp'")
    bare = _dosing()
    assert bare.returncode == 2 and "Usage: dosing [OPTIONS] COMMAND [ARGS]..." in bare.stdout + bare.stderr
