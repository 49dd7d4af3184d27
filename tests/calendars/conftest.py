"""Real calendar parsers for the calendar tests, and plans built for chosen time zones.

Two parsers read every exported file back: ical.js (Mozilla's, the one Thunderbird uses; Node.js with
the version pinned in package.json) and libical (Evolution's; the system Python with PyGObject). Each
is skipped when absent on a workstation, and fails the run when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from dosing.catalog import get_protocol
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.protocol import Protocol
from dosing.units import Weight, parse_dose_per_kg

HERE = Path(__file__).parent
ON_CI = os.environ.get("CI") == "true"
SYSTEM_PYTHON = "/usr/bin/python3"
#: The revision time of a dry-run plan in these tests (DTSTAMP): fixed, never "now".
PLANNED_AT = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

Reader = Callable[[bytes], dict[str, Any]]


def _unavailable(why: str) -> None:
    if ON_CI:
        pytest.fail(f"CI=true and {why}")
    pytest.skip(why)


def _ical_js_available() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HERE / "node_modules" / "ical.js").is_dir():
        return "ical.js is not installed (run scripts/setup.sh, or npm install in tests/calendars)"
    return None


def _libical_available() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('ICalGLib', '3.0')"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return "libical is not installed (apt-get install gir1.2-ical-3.0 python3-gi)"
    return None


def _run(command: list[str], ics: bytes, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "read-back.ics"
    path.write_bytes(ics)
    result = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _clock_iso(text: str) -> str:
    """libical writes 20270328T090000; ical.js 2027-03-28T09:00:00. Compare both as ISO text."""
    if "-" in text:
        return text
    if len(text) == 8:
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    stamp = text.rstrip("Z")
    iso = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"
    return iso + ("Z" if text.endswith("Z") else "")


def _normalise_libical(parsed: dict[str, Any]) -> dict[str, Any]:
    # libical marks what it could not parse with X-LIC-ERROR properties: none allowed.
    assert parsed["errors"] == 0, parsed
    for event in parsed["events"]:
        for end in ("start", "end"):
            moment = event[end]
            if moment is None:
                continue
            moment["local"] = _clock_iso(moment["local"])
            if moment.get("utc"):
                moment["utc"] = _clock_iso(moment["utc"])
    return parsed


def _normalise_ical_js(parsed: dict[str, Any]) -> dict[str, Any]:
    for event in parsed["events"]:
        for end in ("start", "end"):
            moment = event[end]
            if moment is not None and moment.get("utc"):
                moment["utc"] = moment["utc"].replace(".000Z", "Z")
    return parsed


@pytest.fixture(params=["ical.js", "libical"])
def reader(request: pytest.FixtureRequest, tmp_path: Path) -> Reader:
    """A real calendar client's parser: ics bytes in, what it read out (events with local and UTC)."""
    if request.param == "ical.js":
        missing = _ical_js_available()
        if missing:
            _unavailable(missing)
        return lambda ics: _normalise_ical_js(_run(["node", str(HERE / "read_ics.mjs")], ics, tmp_path))
    missing = _libical_available()
    if missing:
        _unavailable(missing)
    return lambda ics: _normalise_libical(
        _run([SYSTEM_PYTHON, str(HERE / "read_ics_libical.py")], ics, tmp_path)
    )


@pytest.fixture
def ical_js(tmp_path: Path) -> Reader:
    missing = _ical_js_available()
    if missing:
        _unavailable(missing)
    return lambda ics: _normalise_ical_js(_run(["node", str(HERE / "read_ics.mjs")], ics, tmp_path))


def protocol_at(
    protocol_id: str,
    timezone: str,
    *,
    infusion_time: time | None = None,
    infusion_minutes: int | str | None = "keep",
) -> Protocol:
    """A shipped protocol moved to a site in ``timezone`` (a test-only site, same rules otherwise)."""
    protocol = get_protocol(protocol_id)
    site_update: dict[str, Any] = {"id": "test-site", "name": "Test ward", "timezone": timezone}
    if infusion_time is not None:
        site_update["infusion_time"] = infusion_time
    site = protocol.sites[0].model_copy(update=site_update)
    update: dict[str, Any] = {"sites": [site]}
    if infusion_minutes != "keep":
        update["preparation"] = protocol.preparation.model_copy(update={"infusion_minutes": infusion_minutes})
    return protocol.model_copy(update=update)


def plan_for(protocol: Protocol, anchor: date, *, arm: str | None = None) -> PatientPlan:
    chosen = arm or next(a.id for a in protocol.arms if a.dose is not None)
    per_kg = None
    if protocol.id == "MSC-ACLF-WEEKLY":
        per_kg = parse_dose_per_kg("5 x10^5 cells/kg")
    return plan_patient(
        protocol, PatientInputs(arm=chosen, weight=Weight.kg(70), anchor=anchor, dose_per_kg=per_kg)
    )
