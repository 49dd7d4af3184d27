"""``dosing calendar``: infusion calendars (.ics) for a subject, a ward or a date range, from the store."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from dosing.cli.output import emit_json, json_option
from dosing.cli.params import known_site, parse_date, parse_instant
from dosing.errors import DosingError


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    return parse_date(text, option)


def _as_of(text: str | None) -> datetime:
    return datetime.now(UTC) if text is None else parse_instant(text)


def _bounded(start: date | None, end: date | None) -> tuple[date | None, date | None]:
    # The ledger widens the range by a day on each side; an open end becomes a far but finite day.
    if start is None and end is None:
        return None, None
    return start or date(1900, 1, 1), end or date(9999, 12, 30)


@click.command("calendar")
@click.argument("subject", required=False)
@click.option("--site", "site_id", callback=known_site, help="Every subject at this site (a ward calendar).")
@click.option("--from", "start_text", metavar="DATE", help="First local day to include (YYYY-MM-DD).")
@click.option("--to", "end_text", metavar="DATE", help="Last local day to include (YYYY-MM-DD).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the .ics here ('-' for standard output, the default without --json).",
)
@click.option(
    "--alarm-minutes",
    type=click.IntRange(min=0, max=7 * 24 * 60),
    help="A reminder this many minutes before each dose still to come (e.g. 120 for pharmacy preparation).",
)
@click.option(
    "--as-of",
    "as_of_text",
    metavar="DATETIME",
    help="Show dose statuses as of this instant (with offset); default now. Never changes DTSTAMP.",
)
@json_option
def calendar(
    subject: str | None,
    site_id: str | None,
    start_text: str | None,
    end_text: str | None,
    output: Path | None,
    alarm_minutes: int | None,
    as_of_text: str | None,
    as_json: bool,
) -> None:
    """Export infusion calendars (.ics) for a subject, a ward, or a date range.

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
    if subject is not None and site_id is not None:
        raise DosingError("subject", "a subject code or --site, not both", "give one of them")
    as_of = _as_of(as_of_text)
    ctx = signed_in(open_store(), "read_ledger")
    if subject is not None:
        view = reads.subject_view(ctx, subject, as_of)
        events = in_range(subject_view_events(view), start, end)
        subjects = [view.subject_code]
        name = f"{view.protocol_id} {view.subject_code}"
    else:
        views = reads.site_views(ctx, site_id, *_bounded(start, end), as_of)
        events = site_view_events(views, start, end)
        subjects = [view.subject_code for view in views]
        span = f"{start or '...'} to {end or '...'}" if start or end else "all dates"
        name = f"{site_id or 'All sites'} {span}"
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
