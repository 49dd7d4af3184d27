#!/usr/bin/env bash
# Create .venv and install the engine with its pinned dependencies (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# "compat" editable mode: a .pth line with the project's folder, where the default mode installs an
# import hook that every Python process of the venv loads at start (it took `python -c pass` from 12 to
# 29 ms, and every `dosing` command with it: issue 15). pyproject.toml pins the setuptools that has the
# mode, so its notice that the mode is transitional is silenced.
PYTHONWARNINGS="ignore:Compat editable installs" \
  .venv/bin/python -m pip install -q -e ".[dev]" --config-settings editable_mode=compat
# An editable install leaves the engine's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is
# set (it is on this project's machines) every command would compile them again at start: about 190 ms
# of a `dosing status`. Compile them once here; Python still recompiles any file edited since.
.venv/bin/python -m compileall -q -j 0 dosing calendars flows >/dev/null
if [ -f tests/calendars/package.json ] && command -v npm >/dev/null; then
  (cd tests/calendars && npm install --silent --no-audit --no-fund >/dev/null)
fi
# The web application's browser tests drive Debian's Chromium (Playwright cannot download browsers here):
# installed only when missing, and only where this script may install system packages.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing (sudo apt-get install chromium); browser tests will skip" >&2
  fi
fi
