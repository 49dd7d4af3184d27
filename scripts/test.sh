#!/usr/bin/env bash
# The whole test suite (sets up .venv first if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || ./scripts/setup.sh
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
exec .venv/bin/pytest "$@"
