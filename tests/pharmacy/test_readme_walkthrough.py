"""Every command of the README's pharmacy section, run in order as people run it: real processes, a
real SQLite file, real logins, the clock set by the comment before each group of commands."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.dosing_cli import DosingCLI

README = Path(__file__).resolve().parents[2] / "README.md"
CLOCK = re.compile(r"^# (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[+-]\d{2}:\d{2})")


def pharmacy_commands() -> list[tuple[str, str]]:
    """(clock, command line) for every ``dosing`` line of the section, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Preparing doses (pharmacy)") :]
    section = section[: section.index("\n## ", 10)]
    commands: list[tuple[str, str]] = []
    clock = ""
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            found = CLOCK.match(line)
            if found:
                clock = found.group(1)
            elif line.startswith("dosing "):
                commands.append((clock, line))
    return commands


def test_the_readme_names_the_whole_walk() -> None:
    lines = [line for _, line in pharmacy_commands()]
    for needed in ("dosing lots add", "dosing lots thaw", "dosing bag prepare", "dosing bag verify",
                   "dosing bag release", "dosing record S-001 --dose 1", "dosing bag waste"):  # fmt: skip
        assert any(line.startswith(needed) for line in lines), needed


@pytest.fixture
def cli(tmp_path: Path) -> DosingCLI:
    runner = DosingCLI(tmp_path, DOSING_PRODUCT_CODES='{"UC-MSC": "S1398V00"}')
    for username, name, roles in (
        ("cora", "Cora Coordinator", "coordinator"),
        ("pat", "Pat Preparer", "pharmacist"),
        ("vic", "Vic Verifier", "pharmacist"),
        ("nora", "Nora Nurse", "nurse"),
    ):
        runner.add_user(username, name, roles)
    return runner


def test_every_command_of_the_pharmacy_section_runs_as_documented(cli: DosingCLI, tmp_path: Path) -> None:
    user = "cora"
    outputs: dict[str, str] = {}
    for clock, line in pharmacy_commands():
        command, _, comment = line.partition("#")
        args = shlex.split(command)[1:]
        if args[0] == "login":
            user = args[1]
            continue
        # Files go to the test's folder, not the working directory.
        args = [str(tmp_path / arg) if arg.endswith("/") else arg for arg in args]
        refused = comment.strip().startswith("refused")
        result = cli(*args, ok=not refused, clock=clock, user=user)
        if refused:
            assert result.returncode == 2, f"{line}: {result.stdout}{result.stderr}"
            assert result.stderr.startswith("error: "), result.stderr
            assert "Traceback" not in result.stderr
        outputs[line] = result.stdout + result.stderr

    def output(start: str) -> str:
        return next(text for line, text in outputs.items() if line.startswith(start))

    # Stock: container 1 gave S-001's bag (used); container 2's bag was voided, then one was wasted.
    clock = "2026-12-01T09:30+08:00"
    lot = json.loads(cli("lots", "show", "G123498654321", "--json", user="pat", clock=clock).stdout)
    draw_1 = ml(json.loads(cli("bag", "show", "B0000001", "--json", user="pat", clock=clock).stdout))
    draw_3 = ml(json.loads(cli("bag", "show", "B0000003", "--json", user="pat", clock=clock).stdout))
    assert Decimal(lot["used_ml"]) == draw_1
    assert Decimal(lot["wasted_ml"]) == draw_3
    assert Decimal(lot["reserved_ml"]) == 0
    assert Decimal(lot["remaining_ml"]) == 40 - draw_1 - draw_3
    assert "already has bag B0000001" in output("dosing bag prepare S-001 1  ")
    assert "S-001 dose 1 has bag B0000001 (released); scan its label" in output(
        "dosing record S-001 --dose 1 --at 2026-12-01T09:05 --lot"
    )
    assert "thaw one first: dosing lots thaw G123498654321 --container 2" in output(
        "dosing bag prepare S-002 1  "
    )
    assert "B0000001 is for S-001 dose 1, not S-002 dose 1" in output("dosing record S-002")
    assert "administered" in output("dosing bag show B0000001")

    # The label as printed: text and every barcode read back at 203 dpi.
    label = next(tmp_path.glob("bags/*B0000001_label.pdf"))
    text = subprocess.run(["pdftotext", "-layout", str(label), "-"], capture_output=True, text=True).stdout
    for printed in ("Subject S-001", "Verified by Vic Verifier", "Prepared by Pat Preparer",
                    "2026-12-01 10:30 UTC+0800", "investigational use", "Bag B0000001"):  # fmt: skip
        assert printed in text, printed
    subprocess.run(["pdftoppm", "-r", "203", "-gray", "-png", "-singlefile", str(label), str(tmp_path / "l")],
                   check=True)  # fmt: skip
    found = sorted(b.text for b in zxingcpp.read_barcodes(Image.open(tmp_path / "l.png")))
    assert found == sorted(["=G12349865432100", "=<S1398V00", "&>0263351030", "B0000001"])
    assert next(tmp_path.glob("bags/*B0000001_label.zpl")).read_text().startswith("^XA")


def ml(bag: dict[str, Any]) -> Decimal:
    volume = bag["volume_to_draw"]
    assert volume["unit"] == "mL"
    return Decimal(volume["value"])
