"""``dosing enroll``: enroll a subject and store the plan, at the coordinator's desk."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from dosing.app.typed import build_request, eligibility_inputs, parse_date, parse_date_or_instant
from dosing.catalog import get_protocol
from dosing.cli.output import emit_json, json_option
from dosing.cli.params import database_url_option, ledger_store, site_option
from dosing.cli.session import signed_in
from dosing.eligibility import EligibilityAssessment
from dosing.errors import DosingError
from dosing.status import local_date
from dosing.units import parse_dose_per_kg, parse_weight


@click.command()
@click.argument("protocol_id", required=False)
@click.option(
    "--roster",
    "roster_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Enroll every row of a CSV roster (the enroll-roster flow's columns) instead of one subject.",
)
@click.option("--subject", "subject_code", default=None, help="Study code of the subject (no names).")
@click.option("--arm", default=None, help="Arm; omit on randomized studies (the list assigns it).")
@click.option("--weight", "weight_text", default=None, help="Enrollment weight with its unit, e.g. 62kg.")
@click.option("--allow-pounds", is_flag=True, help="Accept a weight in pounds (converted to kg).")
@click.option(
    "--weight-measured-on", default=None, metavar="DATE",
    help="Day the weight was measured, YYYY-MM-DD (default: today).",
)  # fmt: skip
@click.option(
    "--anchor", "anchor_text", default=None, metavar="DATE",
    help="Anchor date YYYY-MM-DD, or an instant with its offset (default: today, if the anchor is "
    "enrollment; a transplant date must be given).",
)  # fmt: skip
@site_option("The subject's site, when the protocol has several.")
@click.option("--dose-per-kg", "dose_text", default=None, help="Chosen dose per kg (range protocols).")
@click.option("--age", type=int, default=None, help="Age in whole years (protocols with an age criterion).")
@click.option("--creatinine", default=None, help="Serum creatinine with unit, e.g. '1.2 mg/dL' (MELD).")
@click.option("--bilirubin", default=None, help="Total bilirubin, e.g. '3.1 mg/dL' or '53 umol/L'.")
@click.option("--inr", default=None, help="INR, e.g. 1.8 (MELD, Child-Pugh).")
@click.option("--albumin", default=None, help="Serum albumin, e.g. '3.0 g/dL' or '30 g/L' (Child-Pugh).")
@click.option(
    "--ascites", type=click.Choice(["none", "mild", "moderate_severe"]), default=None,
    help="Ascites grade (Child-Pugh).",
)  # fmt: skip
@click.option(
    "--encephalopathy", type=click.Choice(["none", "grade_1_2", "grade_3_4"]), default=None,
    help="Hepatic encephalopathy grade (Child-Pugh).",
)  # fmt: skip
@click.option("--override-allocation", is_flag=True, help="Use --arm on a randomized study (audited).")
@click.option("--reason", default=None, help="Why (required with --override-allocation).")
@database_url_option
@json_option
def enroll(
    protocol_id: str | None,
    roster_path: Path | None,
    subject_code: str | None,
    arm: str | None,
    weight_text: str | None,
    allow_pounds: bool,
    weight_measured_on: str | None,
    anchor_text: str | None,
    site: str | None,
    dose_text: str | None,
    age: int | None,
    creatinine: str | None,
    bilirubin: str | None,
    inr: str | None,
    albumin: str | None,
    ascites: str | None,
    encephalopathy: str | None,
    override_allocation: bool,
    reason: str | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Enroll a subject in PROTOCOL_ID (study code or registry id) and store the plan (one
    transaction), attributed to you, stamped now.

    With --roster FILE (and no PROTOCOL_ID): every row of the CSV roster, each subject all or nothing;
    bad rows are reported by line and the others are enrolled (exit status 1 if any row was rejected).
    """
    if roster_path is not None:
        if protocol_id is not None or subject_code is not None or weight_text is not None:
            raise click.UsageError(
                "--roster takes the subjects from the file: no PROTOCOL_ID, --subject or --weight"
            )
        _enroll_roster(roster_path, allow_pounds, database_url, as_json)
        return
    if protocol_id is None or subject_code is None or weight_text is None:
        raise click.UsageError("give PROTOCOL_ID, --subject and --weight (or --roster FILE)")
    from dosing.app import clock
    from dosing.app import enrollment as enrollment_use_case
    from dosing.plan import check_study_takes_patients
    from dosing.store.models import EnrollmentForm

    protocol = get_protocol(protocol_id)
    check_study_takes_patients(protocol)
    store = ledger_store(database_url)
    ctx = signed_in(store, "enroll")
    zone = protocol.site(site).timezone
    as_of = clock.now()
    if anchor_text is None:
        if protocol.anchor.event.value == "transplant":
            raise DosingError(
                "anchor", "the transplant date", f"{protocol.id} is anchored on transplant: give --anchor"
            )
        anchor: date | datetime = local_date(as_of, zone)
    else:
        anchor = parse_date_or_instant(anchor_text, "anchor")
    form = build_request(
        EnrollmentForm,
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
        eligibility=eligibility_inputs(
            age=age,
            creatinine=creatinine,
            bilirubin=bilirubin,
            inr=inr,
            albumin=albumin,
            ascites=ascites,
            encephalopathy=encephalopathy,
        ),
        override_allocation=override_allocation,
        reason=reason,
    )
    enrollment = enrollment_use_case.enroll(ctx, form)
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
    if e.eligibility is not None:
        click.echo(f"eligibility: {eligibility_text(e.eligibility)}")
    click.echo(f"planned: {e.planned_doses} administrations, {e.planned_assessments} assessments")
    for warning in e.warnings:
        click.secho(f"warning: {warning}", fg="yellow")


def _enroll_roster(path: Path, allow_pounds: bool, database_url: str | None, as_json: bool) -> None:
    from dosing.app.bulk_enrollment import enroll_roster
    from dosing.app.roster import parse_roster, read_roster_text

    roster = parse_roster(read_roster_text(path), allow_pounds=allow_pounds)
    ctx = signed_in(ledger_store(database_url), "enroll")
    outcome = enroll_roster(ctx, roster)
    rows = len(roster.rows) + len(roster.rejected)
    if as_json:
        emit_json({"roster": str(path.resolve()), "rows": rows, **outcome})
    else:
        click.echo(
            f"enrolled {len(outcome['enrolled'])}, already enrolled {len(outcome['skipped'])}, "
            f"rejected {len(outcome['rejected'])} (of {rows} rows in {path.name})"
        )
        for rejected in outcome["rejected"]:
            who = f" ({rejected['subject_code']})" if rejected.get("subject_code") else ""
            click.echo(f"  line {rejected['line']}{who}: error: {rejected['field']}: {rejected['reason']}")
    if outcome["rejected"]:
        # The good rows are stored; a script or a cron job must still notice the rows that are not.
        raise SystemExit(1)


def eligibility_text(assessed: EligibilityAssessment) -> str:
    parts = []
    if assessed.inputs.age_years is not None:
        parts.append(f"age {assessed.inputs.age_years}")
    if assessed.meld is not None:
        parts.append(f"MELD {assessed.meld}")
    if assessed.child_pugh is not None:
        parts.append(f"Child-Pugh {assessed.child_pugh.child_class} ({assessed.child_pugh.points} points)")
    return ", ".join(parts) or "no criteria"
