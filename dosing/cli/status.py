"""Where doses stand: ``dosing status`` for one subject, ``dosing overdue`` across subjects.

``dosing overdue --as-of`` without an offset is UTC, because it spans sites.
"""

from __future__ import annotations

import click

from dosing.cli.output import csv_option, csv_text, emit_json, json_option, status_text, table
from dosing.cli.params import (
    as_of_option,
    ledger_store,
    moment_or_now,
    refuse_as_of,
    subject_zone,
)
from dosing.cli.session import signed_in

_STATUS_HEADERS = [
    "dose",
    "label",
    "day",
    "target",
    "window",
    "planned start",
    "ordered",
    "status",
    "given",
    "lot",
    "rev",
]


@click.command()
@click.argument("subject_code")
@as_of_option
@json_option
@csv_option
def status(subject_code: str, as_of_text: str | None, as_json: bool, as_csv: bool) -> None:
    """A subject's plan with the status of every dose."""
    from dosing.app import reads

    store = ledger_store()
    ctx = signed_in(store, "read_ledger")
    zone = subject_zone(store, subject_code)
    view = reads.subject_view(ctx, subject_code, moment_or_now(as_of_text, zone))
    if as_json:
        emit_json(view)
        return
    rows = []
    for dose in view.doses:
        given = dose.given
        rows.append(
            (
                dose.sequence,
                dose.label,
                dose.study_day,
                dose.target_date.isoformat(),
                f"{dose.earliest.isoformat()}..{dose.latest.isoformat()}",
                dose.planned_start.strftime("%Y-%m-%d %H:%M"),
                str(dose.ordered_dose) if dose.ordered_dose else dose.intervention,
                status_text(dose.status),
                given.started_at.astimezone(dose.planned_start.tzinfo).strftime("%Y-%m-%d %H:%M")
                if given
                else "",
                (given.lot or given.din or "") if given else "",
                dose.revision,
            )
        )
    if as_csv:
        click.echo(csv_text(_STATUS_HEADERS, rows), nl=False)
        return
    click.echo(
        f"{view.subject_code}  {view.protocol_id}  arm {view.arm}  site {view.site} ({view.timezone})  "
        f"weight {view.weight}  anchor {view.anchor_date.isoformat()}"
    )
    click.echo(table(_STATUS_HEADERS, rows))
    signed = [(dose.sequence, dose.given.signed) for dose in view.doses if dose.given and dose.given.signed]
    if signed:
        click.echo("\nsignatures")
        for sequence, text in signed:
            click.echo(f"  dose {sequence}: {text}")
    if view.assessments:
        click.echo("\nassessments")
        click.echo(
            table(
                ["due", "assessment", "measures"],
                [(a.due.strftime("%Y-%m-%d %H:%M"), a.name, ", ".join(a.measures)) for a in view.assessments],
            )
        )


_OVERDUE_HEADERS = [
    "subject",
    "protocol",
    "site",
    "dose",
    "label",
    "target",
    "window end",
    "status",
    "days late",
]


@click.command()
@click.option("--site", default=None, help="Only this site.")
@click.option(
    "--sweep", is_flag=True, help="Also write newly missed and late doses to the audit log (once each)."
)
@as_of_option
@json_option
@csv_option
def overdue(site: str | None, sweep: bool, as_of_text: str | None, as_json: bool, as_csv: bool) -> None:
    """Every missed or late dose across subjects, oldest first, with days late."""
    from dosing.app import reads

    store = ledger_store()
    if sweep:
        refuse_as_of(as_of_text, "the sweep writes to the audit log, so it")
        swept = reads.sweep(signed_in(store, "sweep"))
        if not (as_json or as_csv):
            click.echo(f"{len(swept.missed)} newly missed dose(s) written to the audit log")
            click.echo(f"{len(swept.late)} newly late dose(s) written to the audit log")
    as_of = moment_or_now(as_of_text, "UTC")
    found = reads.overdue(signed_in(store, "read_ledger"), as_of)
    rows = [row for row in found if site is None or row.site == site]
    if as_json:
        emit_json(rows)
        return
    table_rows = [
        (
            r.subject_code,
            r.protocol_id,
            r.site,
            r.sequence,
            r.label,
            r.target_date.isoformat(),
            r.latest.isoformat(),
            r.state.replace("_", " "),
            r.days_late,
        )
        for r in rows
    ]
    if as_csv:
        click.echo(csv_text(_OVERDUE_HEADERS, table_rows), nl=False)
        return
    if not rows:
        click.echo("nothing overdue")
        return
    click.echo(table(_OVERDUE_HEADERS, table_rows))
