#!/usr/bin/env python
"""Rewrite protocols/schema.json from the Protocol model (run after changing dosing/protocol.py).

python scripts/write_schema.py          # rewrite
python scripts/write_schema.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from dosing.catalog import json_schema

SCHEMA = Path(__file__).resolve().parent.parent / "protocols" / "schema.json"


def main(argv: list[str]) -> int:
    wanted = json_schema()
    current = SCHEMA.read_text(encoding="utf-8") if SCHEMA.exists() else ""
    if "--check" in argv:
        if current != wanted:
            print(f"{SCHEMA} is out of date; run: python scripts/write_schema.py", file=sys.stderr)
            return 1
        print(f"{SCHEMA} is up to date")
        return 0
    if current == wanted:
        print(f"{SCHEMA} already up to date")
    else:
        SCHEMA.write_text(wanted, encoding="utf-8")
        print(f"wrote {SCHEMA}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
