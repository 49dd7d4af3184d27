"""An unknown site is refused everywhere with the list of known ones, never an empty answer.

``dosing overdue --site tehran`` used to print nothing and exit 0, which reads as "no overdue dose".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dosing.catalog import known_sites
from tests.cli.command_tree import walk

DOSING = Path(sys.executable).parent / "dosing"

COMMANDS = [
    ["overdue", "--site", "tehran"],
    ["export", "ec", "--site", "tehran"],
    ["calendar", "--site", "tehran", "-o", "ward.ics"],
    ["flows", "run", "prep", "--site", "tehran"],
    ["flows", "run", "calendars", "--site", "tehran", "-o", "calendars"],
    ["prep", "--from", "2026-12-08", "--to", "2026-12-09", "--site", "tehran", "-o", "calendars"],
    ["enroll", "NCT04822922", "--subject", "S-001", "--weight", "62kg", "--site", "tehran"],
    ["plan", "NCT04822922", "--arm", "low", "--weight", "62kg", "--anchor", "2026-12-01", "--site", "tehran"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_an_unknown_site_is_refused_with_the_known_ones(command: list[str], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "DOSING_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [str(DOSING), *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: site: unknown site 'tehran' (rule: a site of a protocol")
    assert all(site in result.stderr for site in known_sites())
    assert not (tmp_path / "ward.ics").exists() and not (tmp_path / "calendars").exists()


def test_the_flows_refuse_an_unknown_site_given_as_a_deployment_parameter(tmp_path: Path) -> None:
    from dosing.errors import DosingError
    from flows.calendar_files import export_calendars
    from flows.prep import pharmacy_prep_list

    with pytest.raises(DosingError, match="unknown site 'tehran'"):
        pharmacy_prep_list.fn(site="tehran", database_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    with pytest.raises(DosingError, match="unknown site 'tehran'"):
        export_calendars.fn(str(tmp_path / "out"), site="tehran")


def test_every_site_filter_in_the_cli_checks_the_site() -> None:
    from dosing.cli import main
    from dosing.cli.params import known_site

    # Enrolling and planning too: a site no protocol knows is refused with the list (then the protocol
    # refuses a known site that is not one of its own).
    filters = [
        (path, param)
        for path, command in walk(main)
        for param in command.params
        if "--site" in getattr(param, "opts", [])
    ]
    assert len(filters) >= 8
    unchecked = [" ".join(path) for path, param in filters if param.callback is not known_site]
    assert unchecked == []
