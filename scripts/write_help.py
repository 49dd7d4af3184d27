#!/usr/bin/env python
"""Rewrite dosing/cli/help.txt, the text ``dosing --help`` prints without importing click (run after
changing a command's name or its one-line help in dosing/cli/__init__.py).

python scripts/write_help.py          # rewrite
python scripts/write_help.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = Path(__file__).resolve().parent.parent / "dosing" / "cli" / "help.txt"


def rendered_help() -> str:
    """What click prints for ``dosing --help`` on a terminal at least 80 columns wide (a real process:
    click's test runner renders 80 columns, a terminal 78)."""
    import os
    import subprocess

    command = "from dosing.cli import main; main(prog_name='dosing')"
    result = subprocess.run(
        [sys.executable, "-c", command, "--help"],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def main(argv: list[str]) -> int:
    wanted = rendered_help()
    current = HELP.read_text(encoding="utf-8") if HELP.exists() else ""
    if "--check" in argv:
        if current != wanted:
            print(f"{HELP} is out of date; run: python scripts/write_help.py", file=sys.stderr)
            return 1
        print(f"{HELP} is up to date")
        return 0
    if current != wanted:
        HELP.write_text(wanted, encoding="utf-8")
    print(f"{HELP} written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
