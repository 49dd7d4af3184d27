#!/usr/bin/env bash
# Create .venv and install the engine with its pinned dependencies (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
if [ -f tests/calendars/package.json ] && command -v npm >/dev/null; then
  (cd tests/calendars && npm install --silent --no-audit --no-fund >/dev/null)
fi
