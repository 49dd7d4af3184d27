"""``dosing cohorts``: dose-escalation cohorts, and the safety reviews that open the next one."""

from __future__ import annotations

from datetime import UTC, date

import click

from dosing.catalog import get_protocol
from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    as_of_option,
    build_request,
    ledger_store,
    moment_or_now,
    refuse_as_of,
)
from dosing.cli.session import password_stdin_option, read_password, signed_in
from dosing.errors import DosingError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise DosingError("reviewed on", "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error


@click.command()
@click.argument("protocol_id")
@click.option("--review", "review_cohort", type=int, default=None, help="Record a safety review of cohort N.")
@click.option("--safe/--unsafe", default=None, help="The review's conclusion.")
@click.option("--reviewed-on", default=None, help="Day of the review (default: today).")
@click.option("--notes", default=None)
@as_of_option
@password_stdin_option
@json_option
def cohorts(
    protocol_id: str,
    review_cohort: int | None,
    safe: bool | None,
    reviewed_on: str | None,
    notes: str | None,
    as_of_text: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Dose-escalation cohorts: who is in each, safety windows, reviews, and which cohort is open.

    ``--review N --safe|--unsafe`` records an investigator's signed safety review, stamped now."""
    from dosing.app import clock, cohort_review
    from dosing.store.models import CohortReviewForm

    protocol = get_protocol(protocol_id)
    zone = protocol.sites[0].timezone
    store = ledger_store()
    if review_cohort is not None:
        refuse_as_of(as_of_text, "a review")
        if safe is None:
            raise DosingError("safe", "a review concludes --safe or --unsafe", "give --safe or --unsafe")
        ctx = signed_in(store, "review_cohort")
        form = build_request(
            CohortReviewForm,
            protocol_id=protocol.id,
            cohort=review_cohort,
            safe=safe,
            reviewed_on=_day(reviewed_on) if reviewed_on else clock.now().astimezone(UTC).date(),
            notes=notes,
        )
        review_id = cohort_review.review(ctx, form, read_password(password_stdin))
        if not as_json:
            click.echo(f"review {review_id}: cohort {review_cohort} marked {'safe' if safe else 'unsafe'}")
    as_of = moment_or_now(as_of_text, zone)
    states = cohort_review.cohorts(signed_in(store, "read_ledger"), protocol.id, as_of)
    if as_json:
        emit_json(states)
        return
    rows = [
        (
            s.cohort,
            "expansion" if s.expansion else "escalation",
            s.arm or "(to select)",
            f"{s.enrolled}/{s.size}",
            ", ".join(s.members),
            s.safety_window_ends.isoformat() if s.safety_window_ends else "",
            f"{s.review} {s.reviewed_on.isoformat()}" if s.review and s.reviewed_on else "",
            "open" if s.open else f"closed: {s.why_closed}",
        )
        for s in states
    ]
    click.echo(
        table(["cohort", "kind", "level", "enrolled", "subjects", "window ends", "review", "state"], rows)
    )
