"""``dosing calendar``: infusion calendars (.ics) for a subject, a ward or a date range, from the store."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from dosing.app.typed import parse_date
from dosing.cli.output import emit_json, json_option
from dosing.cli.params import (
    AsOf,
    as_of_option,
    as_of_or_now,
    database_url_option,
    output_option,
    site_option,
    sites_zone,
    subject_zone,
)
from dosing.errors import DosingError


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    return parse_date(text, option)


def _bounded(start: date | None, end: date | None) -> tuple[date | None, date | None]:
    # The ledger widens the range by a day on each side; an open end becomes a far but finite day.
    if start is None and end is None:
        return None, None
    return start or date(1900, 1, 1), end or date(9999, 12, 30)


@click.command("calendar")
@click.argument("subject", required=False)
@site_option("Every subject at this site (a ward calendar).")
@click.option("--from", "start_text", metavar="DATE", help="First local day to include (YYYY-MM-DD).")
@click.option("--to", "end_text", metavar="DATE", help="Last local day to include (YYYY-MM-DD).")
@output_option(
    "Write the .ics to this file ('-' for standard output, the default without --json).",
    metavar="FILE.ics", dir_okay=False, writable=True,
)  # fmt: skip
@click.option(
    "--alarm-minutes",
    type=click.IntRange(min=0, max=7 * 24 * 60),
    help="A reminder this many minutes before each dose still to come (e.g. 120 for pharmacy preparation).",
)
@as_of_option(
    "Show dose statuses as of this moment (default now; never changes the stamps): ISO 8601, e.g. "
    "2028-03-10T08:00+03:30; without an offset, on the subject's or the --site's clock."
)
@database_url_option
@json_option
def calendar(
    subject: str | None,
    site: str | None,
    start_text: str | None,
    end_text: str | None,
    output: Path | None,
    alarm_minutes: int | None,
    as_of: AsOf | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Export infusion calendars (.ics) for one SUBJECT (a subject code), a ward, or a date range.

    \b
      dosing calendar S-001 -o S-001.ics
      dosing calendar --site renji-shanghai --from 2027-03-01 --to 2027-03-31 -o ward.ics
      dosing calendar --site renji-shanghai --from 2027-03-01 --to 2027-03-31 --alarm-minutes 120 -o ward.ics

    Events carry only the study code and the subject code. A rescheduled dose keeps its event (a higher
    SEQUENCE); a skipped dose stays in the file, marked cancelled.
    """
    from calendars.events import in_range
    from calendars.ics import to_ical
    from calendars.views import site_view_events, subject_view_events
    from dosing.app import reads
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    if output is not None and str(output) != "-":
        from dosing.cli.output_paths import writable_file

        writable_file(output)
    start, end = _day(start_text, "--from"), _day(end_text, "--to")
    if start is not None and end is not None and end < start:
        raise DosingError("--to", "a last day on or after --from", f"{end} is before {start}")
    if subject is not None and site is not None:
        raise DosingError("subject", "a subject code or --site, not both", "give one of them")
    ctx = signed_in(open_store(database_url), "read_ledger")
    if subject is not None:
        view = reads.subject_view(ctx, subject, as_of_or_now(as_of, subject_zone(ctx.store, subject)))
        events = in_range(subject_view_events(view), start, end)
        subjects = [view.subject_code]
        name = f"{view.protocol_id} {view.subject_code}"
    else:
        views = reads.site_views(ctx, site, *_bounded(start, end), as_of_or_now(as_of, sites_zone(site)))
        events = site_view_events(views, start, end)
        subjects = [view.subject_code for view in views]
        span = f"{start or '...'} to {end or '...'}" if start or end else "all dates"
        name = f"{site or 'All sites'} {span}"
    ics = to_ical(events, name=name, alarm_minutes=alarm_minutes)
    written = None
    if output is not None and str(output) != "-":
        output.write_bytes(ics)
        written = str(output)
    elif not as_json:
        sys.stdout.buffer.write(ics)
        sys.stdout.buffer.flush()
    cancelled = sum(1 for event in events if event.status.value == "CANCELLED")
    if as_json:
        emit_json(
            {
                "output": written,
                "name": name,
                "subjects": subjects,
                "event_count": len(events),
                "cancelled": cancelled,
                "events": [event.model_dump(mode="json") for event in events],
            }
        )
    elif written is not None:
        click.echo(
            f"{written}: {len(events)} events ({cancelled} cancelled) for {len(subjects)} subject(s)",
            err=True,
        )
