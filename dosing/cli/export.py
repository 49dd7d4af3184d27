"""``dosing export sdtm|fhir|ec|ex``: the dose ledger for a data manager and for EHRs.

``sdtm`` writes a study's submission package (.xpt, Dataset-JSON, define.xml) and ``fhir`` one FHIR
Bundle per subject, both into an existing folder (``-o DIR``) through
:mod:`dosing.exchange.exports`. ``ec`` and ``ex`` are the earlier quick CSV views of EC and EX.
``--as-of`` without an offset is read on the clock of ``--site`` (refused when the sites' clocks differ).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from dosing.app.spreadsheet import csv_text
from dosing.cli.output import emit_json, json_option
from dosing.cli.params import (
    AsOf,
    as_of_option,
    as_of_or_now,
    database_url_option,
    ledger_store,
    output_option,
    site_option,
    sites_zone,
)

_AS_OF_HELP = (
    "Read the ledger as of this moment (default now); also the files' creation time. ISO 8601, e.g. "
    "2026-12-12T12:00+08:00; without an offset, on the --site's clock."
)


@click.group()
def export() -> None:
    """Export the dose ledger: SDTM package, FHIR Bundles, or EC/EX as CSV."""


def _folder_command(kind: str) -> click.Command:
    def run(
        protocol_id: str | None, site: str | None, as_of: AsOf | None, output: Path, database_url: str | None
    ) -> None:
        from dosing.exchange import exports

        options = exports.ExportOptions(
            output=output, protocol=protocol_id, site=site, as_of=as_of_or_now(as_of, sites_zone(site))
        )
        from dosing.cli.session import signed_in

        run_export = exports.export_sdtm if kind == "sdtm" else exports.export_fhir
        result = run_export(signed_in(ledger_store(database_url), "export"), options)
        for warning in result.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
        click.echo(
            f"{len(result.files)} file(s) for {result.subjects} subject(s) written to {output}", err=True
        )
        for path in result.files:
            click.echo(str(path))

    run = database_url_option(run)
    run = output_option(
        "An existing, writable folder; one subfolder per study is written in it.",
        required=True,
        metavar="DIR",
    )(run)
    run = as_of_option(_AS_OF_HELP)(run)
    run = site_option("Only this site's subjects.")(run)
    run = click.option(
        "--protocol", "protocol_id", default=None, metavar="PROTOCOL",
        help="Only this study (study code or registry id).",
    )(run)  # fmt: skip
    helps = {
        "sdtm": "SDTM package per study: DM EC EX SV TS TA TE TV as .xpt and Dataset-JSON, with define.xml.",
        "fhir": "FHIR R4(B) Bundle per subject: plan, requests, administrations, research subject.",
    }
    return click.command(name=kind, help=helps[kind])(run)


export.add_command(_folder_command("sdtm"))
export.add_command(_folder_command("fhir"))


def _csv_options(function: Callable[..., None]) -> Callable[..., None]:
    function = json_option(function)
    function = database_url_option(function)
    function = output_option(
        "Write the CSV to this file instead of standard output.", dir_okay=False, metavar="FILE.csv"
    )(function)
    function = as_of_option(_AS_OF_HELP)(function)
    function = site_option("Only this site's subjects.")(function)
    return click.option(
        "--protocol", "protocol_id", default=None, metavar="PROTOCOL",
        help="Only this study's subjects (study code or registry id).",
    )(function)  # fmt: skip


def _csv_command(domain: str, summary: str) -> click.Command:
    def run(
        protocol_id: str | None,
        site: str | None,
        as_of: AsOf | None,
        output: Path | None,
        database_url: str | None,
        as_json: bool,
    ) -> None:
        _export_csv(domain, protocol_id, site, as_of, output, database_url, as_json)

    return click.command(name=domain, help=summary)(_csv_options(run))


export.add_command(_csv_command("ec", "EC as CSV (or --json): planned and administered doses."))
export.add_command(_csv_command("ex", "EX as CSV (or --json): the doses given."))


def _export_csv(
    domain: str,
    protocol_id: str | None,
    site: str | None,
    as_of: AsOf | None,
    output: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """EC or EX of the selected studies, as the SDTM package holds it, as CSV or JSON rows."""
    from dosing.cli.session import signed_in
    from dosing.exchange import exports

    if output is not None:
        from dosing.cli.output_paths import writable_file

        writable_file(output)
    ctx = signed_in(ledger_store(database_url), "export")
    selection = exports.Selection(
        protocol=protocol_id, site=site, as_of=as_of_or_now(as_of, sites_zone(site))
    )
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
