"""``dosing export sdtm|fhir`` and the nightly export flows, on the worked-example ledger (SQLite file).

The flows are run with ``flow.fn()``: their logic without a Prefect server.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dosing.cli import main
from tests.exchange.conftest import AS_OF, at

STUDY = "NCT04822922"


def _run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DOSING_DATABASE_URL": db_url})


def test_export_sdtm_writes_the_package_and_warns(dosed_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    selection = ["--protocol", STUDY, "--site", "renji-shanghai", "--as-of", AS_OF]
    result = _run(dosed_url, "export", "sdtm", *selection, "-o", str(out))
    assert result.exit_code == 0, result.output
    written = sorted(Path(line).name for line in result.stdout.splitlines())
    assert "define.xml" in written and "ex.xpt" in written and "ex.json" in written and len(written) == 17
    assert "warning: EC NCT04822922-S-002 dose 1 ECREASOC: it may name a person" in result.stderr
    assert "17 file(s) for 2 subject(s)" in result.stderr
    assert (out / STUDY / "dm.xpt").is_file()


def test_export_fhir_writes_a_bundle_per_subject(dosed_url: str, tmp_path: Path) -> None:
    result = _run(dosed_url, "export", "fhir", "--as-of", AS_OF, "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert [Path(line).name for line in result.stdout.splitlines()] == ["S-001.json", "S-002.json"]
    bundle = json.loads((tmp_path / STUDY / "S-001.json").read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle" and bundle["timestamp"] == "2026-12-12T12:00:00+08:00"


@pytest.mark.parametrize("kind", ["sdtm", "fhir"])
def test_a_missing_output_folder_is_a_clean_error(dosed_url: str, tmp_path: Path, kind: str) -> None:
    result = _run(dosed_url, "export", kind, "-o", str(tmp_path / "absent"), "--as-of", AS_OF)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: output: ") and "does not exist" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "absent").exists()


def test_a_read_only_output_folder_is_a_clean_error(dosed_url: str, tmp_path: Path) -> None:
    # /proc takes no new files, even from root (a chmod'ed folder would not stop root).
    result = _run(dosed_url, "export", "sdtm", "-o", "/proc", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: output: /proc is read-only")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_folder_without_write_permission_is_refused(dosed_url: str, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = _run(dosed_url, "export", "fhir", "-o", str(locked), "--as-of", AS_OF)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert result.exit_code == 2 and "is read-only" in result.stderr


def test_an_unknown_site_or_protocol_is_refused_with_the_known_ones(dosed_url: str, tmp_path: Path) -> None:
    result = _run(dosed_url, "export", "sdtm", "--site", "nowhere", "-o", str(tmp_path), "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "error: site: unknown site 'nowhere' (rule: a site of a protocol in the library (" in result.stderr
    assert "renji-shanghai" in result.stderr
    result = _run(dosed_url, "export", "fhir", "--protocol", "NCT0", "-o", str(tmp_path))
    assert result.exit_code == 2 and "unknown protocol 'NCT0'" in result.stderr
    assert STUDY not in os.listdir(tmp_path)


def test_the_nightly_flows_write_to_their_folders(dosed_url: str, tmp_path: Path) -> None:
    from flows.export import export_fhir_nightly, export_sdtm_nightly
    from flows.store_access import forget_stores

    out = tmp_path / "nightly"
    out.mkdir()
    try:
        sdtm = export_sdtm_nightly.fn(str(out), protocol=STUDY, as_of=at(AS_OF), database_url=dosed_url)
        fhir = export_fhir_nightly.fn(
            str(out), site="renji-shanghai", as_of=at(AS_OF), database_url=dosed_url
        )
    finally:
        forget_stores()
    assert (sdtm["files"], sdtm["subjects"], fhir["files"], fhir["subjects"]) == (17, 2, 2, 2)
    assert (out / "sdtm" / STUDY / "define.xml").is_file()
    assert (out / "fhir" / STUDY / "S-002.json").is_file()
    assert any("may name a person" in warning for warning in sdtm["warnings"])
    from dosing.errors import DosingError

    with pytest.raises(DosingError, match="does not exist"):
        export_sdtm_nightly.fn(str(tmp_path / "absent"), as_of=at(AS_OF), database_url=dosed_url)
