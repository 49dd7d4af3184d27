"""``dosing export ec|ex``: the dose ledger as CDISC SDTM datasets for a data manager.

EC holds planned versus administered doses (SCHEDULED and PERFORMED rows, missed and skipped doses
with their reason); EX only the doses given. ``--as-of`` without an offset is UTC, because it spans sites.
"""

from __future__ import annotations

from pathlib import Path

import click

from dosing.cli.output import csv_text, emit_json, json_option
from dosing.cli.params import as_of_option, ledger_store, moment_or_now


@click.command()
@click.argument("domain", type=click.Choice(["ec", "ex"], case_sensitive=False))
@click.option("--protocol", "protocol_id", default=None, help="Only this protocol's subjects.")
@click.option("--site", default=None, help="Only this site.")
@as_of_option
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE.csv",
    help="Write the CSV to this file instead of standard output.",
)
@json_option
def export(
    domain: str,
    protocol_id: str | None,
    site: str | None,
    as_of_text: str | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Export the dose ledger as an SDTM dataset: EC (planned and administered) or EX (given)."""
    from dosing.catalog import get_protocol
    from dosing.exchange import sdtm

    if protocol_id is not None:
        # Registry ids and study codes both name a protocol; rows carry the study code.
        protocol_id = get_protocol(protocol_id).id
    from dosing.app import reads
    from dosing.cli.session import signed_in

    ctx = signed_in(ledger_store(), "export")
    as_of = moment_or_now(as_of_text, "UTC")
    views = [
        view
        for view in reads.site_views(ctx, site, None, None, as_of)
        if protocol_id is None or view.protocol_id == protocol_id
    ]
    ec = domain.lower() == "ec"
    rows: list[sdtm.ECRow] | list[sdtm.EXRow] = []
    if ec:
        rows = [row for view in views for row in sdtm.ec_rows(view, get_protocol(view.protocol_id))]
    else:
        rows = [row for view in views for row in sdtm.ex_rows(view, get_protocol(view.protocol_id))]
    if as_json:
        emit_json(rows)
        return
    columns = sdtm.EC_COLUMNS if ec else sdtm.EX_COLUMNS
    text = csv_text(columns, [[getattr(row, column) for column in columns] for row in rows])
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8", newline="")
    click.echo(f"{len(rows)} {domain.upper()} row(s) written to {output}", err=True)
