"""Progress of a flow on the terminal of whoever started it: rows enrolled, files written.

Only when standard error is a terminal (a person is watching ``dosing flows run``): a worker's or a
script's output stays the result alone. Lines go to standard error so that ``--json`` output on
standard output stays machine-readable.
"""

from __future__ import annotations

import sys


def watching() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def report(message: str) -> None:
    """One progress line for a person at a terminal; nothing otherwise."""
    if watching():
        print(message, file=sys.stderr, flush=True)
