"""Prefect's own command line from this environment against a server of this environment.

``prefect deployment ls`` and ``prefect flow-run ls`` send ``{"limit": null, "sort": null}``; with
fastapi >= 0.151 the server validated the nulls and answered 422. The pin in pyproject.toml keeps the
client and the server of one install speaking the same dialect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PREFECT = Path(sys.executable).parent / "prefect"


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize("command", [["deployment", "ls"], ["flow-run", "ls"], ["work-pool", "ls"]])
def test_prefect_listing_commands_work_against_the_pinned_server(command: list[str]) -> None:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    listed = subprocess.run([str(PREFECT), *command], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    # The refusal reads "Client error '422 Unprocessable Entity'"; a bare "422" also occurs in run ids.
    assert "Unprocessable" not in listed.stdout + listed.stderr
    assert "HTTPStatusError" not in listed.stdout + listed.stderr
