"""Where doses stand: ``dosing status`` for one subject, ``dosing overdue`` across subjects.

``--as-of`` without an offset is read on the site's clock: the subject's site, or ``--site``.
"""

from __future__ import annotations

import click

from dosing.app.spreadsheet import csv_text
from dosing.cli.output import csv_option, emit_json, json_option, status_text, table
from dosing.cli.params import (
    AsOf,
    as_of_option,
    as_of_or_now,
    database_url_option,
    ledger_store,
    refuse_as_of,
    site_option,
    sites_zone,
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
@as_of_option()
@database_url_option
@json_option
@csv_option
def status(
    subject_code: str, as_of: AsOf | None, database_url: str | None, as_json: bool, as_csv: bool
) -> None:
    """SUBJECT_CODE's plan with the status of every dose (on time, late, missed, skipped ...),
    its signatures and follow-up assessments."""
    from dosing.app import reads

    store = ledger_store(database_url)
    ctx = signed_in(store, "read_ledger")
    zone = subject_zone(store, subject_code)
    view = reads.subject_view(ctx, subject_code, as_of_or_now(as_of, zone))
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
                # A held study gives no dose: nothing due shows as due.
                "held: " + view.hold.split(":")[0]
                if view.hold and dose.given is None and dose.status.state.value in {"upcoming", "window_open"}
                else status_text(dose.status),
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
    if view.hold:
        click.echo(f"held: {view.hold}")
    if view.course is not None:
        click.echo(f"course: {view.course.describe()} ({view.course.policy} policy for doses not given)")
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
@site_option("Only this site's doses; its clock reads an --as-of without an offset.")
@click.option(
    "--sweep", is_flag=True, help="Also write newly missed and late doses to the audit log (once each)."
)
@as_of_option()
@database_url_option
@json_option
@csv_option
def overdue(
    site: str | None, sweep: bool, as_of: AsOf | None, database_url: str | None, as_json: bool, as_csv: bool
) -> None:
    """Every missed or late dose across subjects, oldest first, with days late."""
    from dosing.app import reads

    if sweep:
        refuse_as_of(as_of, "the sweep writes to the audit log, so it")
    # Read before the store is opened: a time the sites' clocks disagree on is refused first.
    moment = as_of_or_now(as_of, sites_zone(site))
    store = ledger_store(database_url)
    if sweep:
        swept = reads.sweep(signed_in(store, "sweep"))
        if not (as_json or as_csv):
            click.echo(f"{len(swept.missed)} newly missed dose(s) written to the audit log")
            click.echo(f"{len(swept.late)} newly late dose(s) written to the audit log")
    found = reads.overdue(signed_in(store, "read_ledger"), moment)
    rows = [row for row in found if site is None or row.site == site]
    if as_json:
        emit_json(rows)
        return
    table_rows: list[tuple[object, ...]] = [
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
    headers = _OVERDUE_HEADERS
    if any(r.course for r in rows):
        # Total-over-period regimens: what the subject received of the total, beside each late dose.
        headers = [*headers, "course"]
        table_rows = [(*line, r.course or "") for line, r in zip(table_rows, rows, strict=True)]
    if as_csv:
        click.echo(csv_text(headers, table_rows), nl=False)
        return
    if not rows:
        click.echo("nothing overdue")
        return
    click.echo(table(headers, table_rows))
