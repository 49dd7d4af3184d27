"""``dosing export sdtm|fhir|ec|ex``: the dose ledger for a data manager and for EHRs.

``sdtm`` writes a study's submission package (.xpt, Dataset-JSON, define.xml) and ``fhir`` one FHIR
Bundle per subject, both into an existing folder (``-o DIR``) through
:mod:`dosing.exchange.exports`. ``ec`` and ``ex`` are the earlier quick CSV views of EC and EX.
``--as-of`` without an offset is UTC, because it spans sites.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from dosing.cli.output import csv_text, emit_json, json_option
from dosing.cli.params import as_of_option, known_site, ledger_store, moment_or_now


@click.group()
def export() -> None:
    """Export the dose ledger: SDTM package, FHIR Bundles, or EC/EX as CSV."""


def _folder_command(kind: str) -> click.Command:
    def run(protocol_id: str | None, site: str | None, as_of_text: str | None, output: Path) -> None:
        from dosing.exchange import exports

        options = exports.ExportOptions(
            output=output, protocol=protocol_id, site=site, as_of=moment_or_now(as_of_text, "UTC")
        )
        from dosing.cli.session import signed_in

        run_export = exports.export_sdtm if kind == "sdtm" else exports.export_fhir
        result = run_export(signed_in(ledger_store(), "export"), options)
        for warning in result.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
        click.echo(
            f"{len(result.files)} file(s) for {result.subjects} subject(s) written to {output}", err=True
        )
        for path in result.files:
            click.echo(str(path))

    run = click.option(
        "-o", "--output", "output", required=True, type=click.Path(path_type=Path), metavar="DIR",
        help="An existing, writable folder; one subfolder per study is written in it.",
    )(run)  # fmt: skip
    run = as_of_option(run)
    run = click.option("--site", default=None, callback=known_site, help="Only this site.")(run)
    run = click.option("--protocol", "protocol_id", default=None, help="Only this protocol.")(run)
    helps = {
        "sdtm": "SDTM package per study: DM EC EX SV TS TA TE TV as .xpt and Dataset-JSON, with define.xml.",
        "fhir": "FHIR R4(B) Bundle per subject: plan, requests, administrations, research subject.",
    }
    return click.command(name=kind, help=helps[kind])(run)


export.add_command(_folder_command("sdtm"))
export.add_command(_folder_command("fhir"))


def _csv_options(function: Callable[..., None]) -> Callable[..., None]:
    function = json_option(function)
    function = click.option(
        "-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
        metavar="FILE.csv", help="Write the CSV to this file instead of standard output.",
    )(function)  # fmt: skip
    function = as_of_option(function)
    function = click.option("--site", default=None, callback=known_site, help="Only this site.")(function)
    return click.option("--protocol", "protocol_id", default=None, help="Only this protocol's subjects.")(
        function
    )


def _csv_command(domain: str, summary: str) -> click.Command:
    def run(
        protocol_id: str | None, site: str | None, as_of_text: str | None, output: Path | None, as_json: bool
    ) -> None:
        _export_csv(domain, protocol_id, site, as_of_text, output, as_json)

    return click.command(name=domain, help=summary)(_csv_options(run))


export.add_command(_csv_command("ec", "EC as CSV (or --json): planned and administered doses."))
export.add_command(_csv_command("ex", "EX as CSV (or --json): the doses given."))


def _export_csv(
    domain: str,
    protocol_id: str | None,
    site: str | None,
    as_of_text: str | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """EC or EX of the selected studies, as the SDTM package holds it, as CSV or JSON rows."""
    from dosing.cli.session import signed_in
    from dosing.exchange import exports

    if output is not None:
        from dosing.cli.output_paths import writable_file

        writable_file(output)
    ctx = signed_in(ledger_store(), "export")
    selection = exports.Selection(protocol=protocol_id, site=site, as_of=moment_or_now(as_of_text, "UTC"))
    warnings: list[str] = []
    packages, _ = exports.sdtm_packages(ctx, selection, warnings)
    name = domain.upper()
    chosen = [data for _, datasets in packages for data in datasets if data.name == name]
    columns = [variable.name for variable in chosen[0].variables] if chosen else _columns(name)
    rows = [[row.get(column) for column in columns] for data in chosen for row in data.rows]
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if as_json:
        emit_json([dict(zip(columns, row, strict=True)) for row in rows])
        return
    text = csv_text(columns, [["" if value is None else _text(value) for value in row] for row in rows])
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8", newline="")
    click.echo(f"{len(rows)} {name} row(s) written to {output}", err=True)


def _columns(name: str) -> list[str]:
    from dosing.exchange.datasets import SPECS

    return [variable.name for variable in SPECS[name][3]]


def _text(value: object) -> str:
    # A dose of 24800000.0 is written 24800000: the CSV shows the number, not the float's spelling.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
