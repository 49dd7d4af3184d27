"""``dosing enroll``: enroll a subject and store the plan, at the coordinator's desk (takes ``--as-of``)."""

from __future__ import annotations

from datetime import date, datetime

import click

from dosing.catalog import get_protocol
from dosing.cli.output import emit_json, json_option
from dosing.cli.params import (
    actor_or_user,
    as_of_option,
    build_request,
    by_option,
    ledger_store,
    moment_or_now,
    parse_date,
    parse_date_or_instant,
)
from dosing.errors import DosingError
from dosing.status import local_date
from dosing.units import parse_dose_per_kg, parse_weight


@click.command()
@click.argument("protocol_id")
@click.option("--subject", "subject_code", required=True, help="Study code of the subject (no names).")
@click.option("--arm", default=None, help="Arm; omit on randomized studies (the list assigns it).")
@click.option("--weight", "weight_text", required=True, help="Enrollment weight with its unit, e.g. 62kg.")
@click.option("--allow-pounds", is_flag=True, help="Accept a weight in pounds (converted to kg).")
@click.option("--weight-measured-on", default=None, help="Day the weight was measured (default: today).")
@click.option(
    "--anchor", "anchor_text", default=None, help="Anchor date (default: today, if the anchor is enrollment)."
)
@click.option("--site", default=None, help="Site id, when the protocol has several.")
@click.option("--dose-per-kg", "dose_text", default=None, help="Chosen dose per kg (range protocols).")
@click.option("--override-allocation", is_flag=True, help="Use --arm on a randomized study (audited).")
@click.option("--reason", default=None, help="Why (required with --override-allocation).")
@as_of_option
@by_option
@json_option
def enroll(
    protocol_id: str,
    subject_code: str,
    arm: str | None,
    weight_text: str,
    allow_pounds: bool,
    weight_measured_on: str | None,
    anchor_text: str | None,
    site: str | None,
    dose_text: str | None,
    override_allocation: bool,
    reason: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Enroll a subject and store the plan (one transaction)."""
    from dosing.plan import check_study_takes_patients
    from dosing.store import ledger
    from dosing.store.models import EnrollmentRequest

    protocol = get_protocol(protocol_id)
    check_study_takes_patients(protocol)
    zone = protocol.site(site).timezone
    as_of = moment_or_now(as_of_text, zone)
    if anchor_text is None:
        if protocol.anchor.event.value == "transplant":
            raise DosingError(
                "anchor", "the transplant date", f"{protocol.id} is anchored on transplant: give --anchor"
            )
        anchor: date | datetime = local_date(as_of, zone)
    else:
        anchor = parse_date_or_instant(anchor_text, "anchor")
    request = build_request(
        EnrollmentRequest,
        protocol_id=protocol.id,
        subject_code=subject_code,
        arm=arm,
        weight=parse_weight(weight_text, allow_pounds=allow_pounds),
        weight_measured_on=(
            parse_date(weight_measured_on, "weight measured on") if weight_measured_on else None
        ),
        anchor=anchor,
        site=site,
        dose_per_kg=parse_dose_per_kg(
            dose_text, field="dose per kg", default_unit=protocol.product.amount_unit
        )
        if dose_text
        else None,
        override_allocation=override_allocation,
        reason=reason,
        actor=actor_or_user(actor),
        as_of=as_of,
    )
    enrollment = ledger.enroll(ledger_store(), request)
    if as_json:
        emit_json(enrollment)
        return
    e = enrollment
    details = [f"arm {e.arm} ({e.arm_source.replace('_', ' ')})"]
    if e.randomization_number is not None:
        details.append(f"randomization number {e.randomization_number}")
    if e.cohort is not None:
        details.append(f"cohort {e.cohort}, place {e.cohort_position}")
    click.echo(f"enrolled {e.subject_code} in {e.protocol_id}: {', '.join(details)}")
    click.echo(
        f"site {e.site} ({e.timezone})   anchor {e.anchor_date.isoformat()}   weight {e.weight} "
        f"(measured {e.weight_measured_on.isoformat() if e.weight_measured_on else 'n/a'})"
    )
    click.echo(f"planned: {e.planned_doses} administrations, {e.planned_assessments} assessments")
    for warning in e.warnings:
        click.secho(f"warning: {warning}", fg="yellow")
