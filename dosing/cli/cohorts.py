"""``dosing cohorts``: dose-escalation cohorts, and the safety reviews that open the next one."""

from __future__ import annotations

from datetime import UTC, date

import click

from dosing.catalog import get_protocol
from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    actor_or_user,
    as_of_option,
    build_request,
    by_option,
    ledger_store,
    moment_or_now,
)
from dosing.errors import DosingError


@click.command()
@click.argument("protocol_id")
@click.option("--review", "review_cohort", type=int, default=None, help="Record a safety review of cohort N.")
@click.option("--safe/--unsafe", default=None, help="The review's conclusion.")
@click.option("--reviewed-on", default=None, help="Day of the review (default: today).")
@click.option("--notes", default=None)
@as_of_option
@by_option
@json_option
def cohorts(
    protocol_id: str,
    review_cohort: int | None,
    safe: bool | None,
    reviewed_on: str | None,
    notes: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Dose-escalation cohorts: who is in each, safety windows, reviews, and which cohort is open."""
    from dosing.store import ledger
    from dosing.store.models import CohortReviewRequest

    protocol = get_protocol(protocol_id)
    zone = protocol.sites[0].timezone
    as_of = moment_or_now(as_of_text, zone)
    store = ledger_store()
    if review_cohort is not None:
        if safe is None:
            raise DosingError("safe", "a review concludes --safe or --unsafe", "give --safe or --unsafe")
        request = build_request(
            CohortReviewRequest,
            protocol_id=protocol.id,
            cohort=review_cohort,
            safe=safe,
            reviewed_on=date.fromisoformat(reviewed_on) if reviewed_on else as_of.astimezone(UTC).date(),
            notes=notes,
            actor=actor_or_user(actor),
            as_of=as_of,
        )
        review_id = ledger.review_cohort(store, request)
        if not as_json:
            click.echo(f"review {review_id}: cohort {review_cohort} marked {'safe' if safe else 'unsafe'}")
    states = ledger.cohorts(store, protocol.id, as_of)
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
