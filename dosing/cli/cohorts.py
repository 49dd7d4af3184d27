"""``dosing cohorts``: dose-escalation cohorts, the safety reviews that open the next one, and the
investigator's decision that lifts a safety hold."""

from __future__ import annotations

from datetime import date

import click

from dosing.app.typed import build_request
from dosing.catalog import get_protocol
from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    AsOf,
    as_of_option,
    as_of_or_now,
    database_url_option,
    ledger_store,
    refuse_as_of,
)
from dosing.cli.session import password_stdin_option, read_password, signed_in
from dosing.errors import DosingError
from dosing.status import local_date


def _day(text: str | None, field: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error


@click.command()
@click.argument("protocol_id")
@click.option("--review", "review_cohort", type=int, default=None, help="Record a safety review of cohort N.")
@click.option("--safe/--unsafe", default=None, help="The review's conclusion.")
@click.option(
    "--reviewed-on",
    default=None,
    metavar="DATE",
    help="Day of the review, YYYY-MM-DD (default: today at the site).",
)
@click.option("--notes", default=None, help="Free text kept with the review, e.g. the DSMB minutes' number.")
@click.option(
    "--reason",
    default=None,
    help="Why (audited): a review before the safety window ended, one superseding another, or a decision.",
)
@click.option(
    "--decide",
    type=click.Choice(["resume", "terminate"]),
    default=None,
    help="An investigator's signed decision that lifts the study's safety hold (needs --reason).",
)
@click.option("--level", default=None, help="With --decide resume: the dose level the study goes on at.")
@click.option(
    "--decided-on", default=None, metavar="DATE",
    help="Day of the decision, YYYY-MM-DD (default: today at the site).",
)  # fmt: skip
@as_of_option()
@password_stdin_option
@database_url_option
@json_option
def cohorts(
    protocol_id: str,
    review_cohort: int | None,
    safe: bool | None,
    reviewed_on: str | None,
    notes: str | None,
    reason: str | None,
    decide: str | None,
    level: str | None,
    decided_on: str | None,
    as_of: AsOf | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """PROTOCOL_ID's dose-escalation cohorts: who is in each, safety windows, reviews, and which cohort
    is open.

    ``--review N --safe|--unsafe`` records an investigator's signed safety review, stamped now;
    ``--decide resume --level L|terminate --reason ...`` the signed decision that lifts a safety hold."""
    from dosing.app import clock, cohort_review, safety_decision
    from dosing.store.models import CohortReviewForm, SafetyDecisionForm

    protocol = get_protocol(protocol_id)
    zone = protocol.sites[0].timezone
    store = ledger_store(database_url)
    if review_cohort is not None and decide is not None:
        raise DosingError("decide", "one change at a time", "give --review or --decide, not both")
    if review_cohort is not None:
        refuse_as_of(as_of, "a review")
        if safe is None:
            raise DosingError("safe", "a review concludes --safe or --unsafe", "give --safe or --unsafe")
        ctx = signed_in(store, "review_cohort")
        form = build_request(
            CohortReviewForm,
            protocol_id=protocol.id,
            cohort=review_cohort,
            safe=safe,
            # The site's calendar day, not UTC's: at 07:00 in Shanghai UTC is still on the day before.
            reviewed_on=_day(reviewed_on, "reviewed on", local_date(clock.now(), zone)),
            notes=notes,
            reason=reason,
        )
        review_id = cohort_review.review(ctx, form, read_password(password_stdin))
        if not as_json:
            # The cohort first, as the option named it; the record id after (it is not a cohort number).
            click.echo(
                f"cohort {form.cohort} reviewed {'safe' if safe else 'unsafe'} on "
                f"{form.reviewed_on.isoformat()} (review record #{review_id})"
            )
    if decide is not None:
        refuse_as_of(as_of, "a decision")
        if reason is None:
            raise DosingError(
                "reason", "a decision on a safety hold is audited with its reason", "give --reason"
            )
        ctx = signed_in(store, "safety_decision")
        decision = build_request(
            SafetyDecisionForm,
            protocol_id=protocol.id,
            action=decide,
            level=level,
            reason=reason,
            decided_on=_day(decided_on, "decided on", local_date(clock.now(), zone)),
        )
        decision_id = safety_decision.decide(ctx, decision, read_password(password_stdin))
        if not as_json:
            what = f"resume at level {level}" if decide == "resume" else "terminate the study"
            click.echo(
                f"investigator's decision: {what} ({decision.reason}) (decision record #{decision_id})"
            )
    reader = signed_in(store, "read_ledger")
    states = cohort_review.cohorts(reader, protocol.id, as_of_or_now(as_of, zone))
    if as_json:
        emit_json(states)
        return
    hold = safety_decision.hold(reader, protocol.id)
    if hold.stopped:
        click.secho(f"{protocol.id} held: {hold.reason} (rule: {hold.rule})", fg="red", err=True)
    elif hold.level_cap is not None:
        click.echo(f"{protocol.id} resumed at level {hold.level_cap} (no cohort above it opens)")
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
