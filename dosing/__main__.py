"""The ``dosing`` command (the installed entry point) and ``python -m dosing``.

``dosing --help`` (and ``-h``) prints the help click renders, kept in ``dosing/cli/help.txt``, without
importing click or anything else: it is the first thing a new user types, and it should answer as
fast as Python starts (issue 15: within 2x of ``python -c pass``). The text is click's own rendering
for a terminal at least 80 columns wide (click's widest); a narrower terminal, any other argument, or
a missing file goes to the command line itself. ``tests/cli/test_help_text.py`` keeps the file equal
to click's rendering; ``python scripts/write_help.py`` rewrites it.

Every other command goes to this environment's preloader when one runs (``dosing preload start``,
``dosing.preload``), else runs here.
"""

from __future__ import annotations

import os
import sys

#: click renders help at most this wide (its HelpFormatter's ``max_width``), less 2 columns.
CLICK_MAX_WIDTH = 80
HELP_FILE = os.path.join(os.path.dirname(__file__), "cli", "help.txt")


def main() -> None:
    if sys.argv[1:] in (["--help"], ["-h"]) and _terminal_columns() >= CLICK_MAX_WIDTH:
        text = _stored_help()
        if text is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
    # A preloader of this environment (`dosing preload start`) runs the command from code it has
    # already imported; without one (the usual case: one folder looked at) it runs here.
    from dosing.preload.client import forward

    status = forward(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    run_here()


def run_here() -> None:
    """The command line itself, in this process."""
    from dosing.cli import main as command_line

    command_line(prog_name="dosing")


def _terminal_columns() -> int:
    """The width click reads (``shutil.get_terminal_size``: ``COLUMNS``, else the terminal, else 80)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns if columns > 0 else 80


def _stored_help() -> str | None:
    try:
        with open(HELP_FILE, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


if __name__ == "__main__":
    main()
