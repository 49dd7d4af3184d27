"""``dosing protocols ...`` and ``dosing plan``: the protocol library and dry-run plans."""

from __future__ import annotations

from pathlib import Path

import click

from dosing.app.typed import parse_date_or_instant
from dosing.catalog import get_protocol, library, load_protocol_file
from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    concentration_option,
    dose_per_kg_option,
    percent_option,
    site_option,
    weight_option,
)
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.protocol import Protocol


@click.group()
def protocols() -> None:
    """List, show and validate protocol definitions."""


def _summary(protocol: Protocol) -> dict[str, object]:
    return {
        "id": protocol.id,
        "registry_id": protocol.registry_id,
        "status": protocol.status.value,
        "product": protocol.product.name,
        "arms": [arm.id for arm in protocol.arms],
        "administrations": len(protocol.administrations),
        "title": protocol.title,
    }


@protocols.command("list")
@json_option
def list_protocols(as_json: bool) -> None:
    """Every protocol in the library."""
    summaries = [_summary(protocol) for protocol in library().values()]
    if as_json:
        emit_json(summaries)
        return
    rows = [
        (s["id"], s["status"], s["product"], ", ".join(s["arms"]), s["administrations"])  # type: ignore[arg-type]
        for s in summaries
    ]
    click.echo(table(["protocol", "status", "product", "arms", "doses"], rows))


@protocols.command("show")
@click.argument("protocol_id")
@json_option
def show_protocol(protocol_id: str, as_json: bool) -> None:
    """One protocol (PROTOCOL_ID: study code or registry id), with its arms, schedule and the choices it
    made."""
    protocol = get_protocol(protocol_id)
    if as_json:
        emit_json(protocol)
        return
    click.echo(f"{protocol.id}  {protocol.title}")
    click.echo(f"registry: {protocol.registry_id or 'none given'}   status: {protocol.status.value}")
    sites = ", ".join(f"{s.name} ({s.timezone})" for s in protocol.sites)
    click.echo(f"sites: {sites}")
    click.echo(
        f"product: {protocol.product.name} ({protocol.product.kind.value}), route {protocol.route.code}"
    )
    click.echo(f"anchor: {protocol.anchor.event.value}, {protocol.anchor.day_numbering.value}")
    click.echo(f"final volume: {protocol.preparation.final_volume} {protocol.preparation.diluent}")
    click.echo(f"rescheduling after a delay: {protocol.rescheduling.value}\n")
    arm_rows = []
    for arm in protocol.arms:
        dose = (
            arm.dose.model_dump(mode="json")
            if arm.dose
            else (f"placebo {arm.placebo.volume}" if arm.placebo else "none")
        )
        arm_rows.append((arm.id, arm.role.value, arm.ratio, _describe_dose(arm)))
        del dose
    click.echo(table(["arm", "role", "ratio", "dose"], arm_rows))
    click.echo()
    admin_rows = [
        (
            spec.label,
            f"day {spec.day}" if spec.day is not None else f"week {spec.week}",
            _describe_window(spec),
        )
        for spec in protocol.administrations
    ]
    click.echo(table(["administration", "when", "window"], admin_rows))
    if protocol.decisions:
        click.echo("\nChoices made where the record is silent or contradicts itself:")
        for decision in protocol.decisions:
            click.echo(f"- {decision.topic}: {decision.choice}")


def _describe_dose(arm: object) -> str:
    from dosing.protocol import Arm, FixedPerAdministration, PerKgFixed, PerKgRange, TotalSplit

    assert isinstance(arm, Arm)
    rule = arm.dose
    if isinstance(rule, PerKgFixed):
        return f"{rule.level}"
    if isinstance(rule, PerKgRange):
        return f"{rule.minimum} to {rule.maximum}, chosen per patient"
    if isinstance(rule, FixedPerAdministration):
        return f"{rule.amount} per administration"
    if isinstance(rule, TotalSplit):
        split = ", ".join(str(a) for a in rule.amounts) if rule.amounts else "equal shares"
        return f"{rule.total} in total ({split})"
    return f"placebo: {arm.placebo.name} {arm.placebo.volume}" if arm.placebo else "no intervention"


def _describe_window(spec: object) -> str:
    from dosing.protocol import AdministrationSpec, TargetWindow

    assert isinstance(spec, AdministrationSpec)
    if spec.window is None:
        return "site default"
    if isinstance(spec.window, TargetWindow):
        return f"days {spec.window.earliest_day}-{spec.window.latest_day}"
    return f"-{spec.window.before}/+{spec.window.after} days"


@protocols.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Check protocol FILES (YAML) against the schema and the engine's rules."""
    from dosing.errors import DosingError

    results = []
    for path in files:
        try:
            protocol = load_protocol_file(path)
            results.append({"file": str(path), "valid": True, "id": protocol.id})
        except DosingError as error:
            results.append({"file": str(path), "valid": False, **error.as_dict()})
    if as_json:
        emit_json(results)
    else:
        for result in results:
            if result["valid"]:
                click.echo(f"ok      {result['file']} ({result['id']})")
            else:
                reason = f"{result['field']}: {result['message']} (rule: {result['rule']})"
                click.echo(f"invalid {result['file']}: {reason}")
    if not all(result["valid"] for result in results):
        raise SystemExit(1)


@click.command()
@click.argument("protocol_id")
@click.option("--arm", required=True, help="Arm or dose level, e.g. high.")
@click.option("--weight", "weight_text", required=True, help="Dosing weight with unit, e.g. 62kg.")
@click.option("--allow-pounds", is_flag=True, help="Accept a weight in lb and convert it to kg.")
@click.option(
    "--weight-measured-on", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
    help="Day the weight was measured, YYYY-MM-DD.",
)  # fmt: skip
@click.option(
    "--anchor", "anchor_text", required=True, help="Anchor date (YYYY-MM-DD) or instant with offset."
)
@site_option("The patient's site (needed when the protocol has several).")
@click.option(
    "--dose-per-kg", "dose_text", help="For range protocols: the patient's dose, e.g. '5 x10^5 cells/kg'."
)
@click.option(
    "--concentration", "concentration_text", help="Lot concentration, e.g. 2e6/mL (default: reference lot)."
)
@click.option("--viability", "viability_text", help="Post-thaw viability, e.g. 95%.")
@json_option
def plan(
    protocol_id: str,
    arm: str,
    weight_text: str,
    allow_pounds: bool,
    weight_measured_on: object,
    anchor_text: str,
    site: str | None,
    dose_text: str | None,
    concentration_text: str | None,
    viability_text: str | None,
    as_json: bool,
) -> None:
    """Dry run: a patient's planned doses, volumes and dates under PROTOCOL_ID (study code or registry
    id). Nothing is stored."""
    protocol = get_protocol(protocol_id)
    unit = protocol.product.amount_unit
    inputs = PatientInputs(
        arm=arm,
        weight=weight_option(weight_text, allow_pounds),
        weight_measured_on=weight_measured_on.date() if weight_measured_on else None,  # type: ignore[attr-defined]
        anchor=parse_date_or_instant(anchor_text, "anchor"),
        site=site,
        dose_per_kg=dose_per_kg_option(dose_text, unit),
        concentration=concentration_option(concentration_text, unit),
        viability=percent_option(viability_text),
    )
    from dosing.settings import site_limits

    limits = site_limits()
    patient_plan = plan_patient(protocol, inputs, limits)
    if inputs.weight_measured_on is not None:
        # A dry run has no enrollment day: the weight is checked against today on the site's clock.
        from zoneinfo import ZoneInfo

        from dosing.app import clock
        from dosing.plausibility import check_weight_measured_on

        today = clock.now().astimezone(ZoneInfo(patient_plan.timezone)).date()
        check_weight_measured_on(inputs.weight_measured_on, today, limits, when="today")
    if as_json:
        emit_json(patient_plan)
    else:
        click.echo(render_plan(patient_plan))


def render_plan(patient_plan: PatientPlan) -> str:
    p = patient_plan
    lines = [
        f"{p.protocol_id}  arm {p.arm} ({p.arm_role.value})  site {p.site} ({p.timezone})",
        f"weight {p.weight}   {p.anchor_event} (anchor) {p.anchor_date.isoformat()}   {p.day_numbering}",
        f"product {p.product}   route {p.route}",
    ]
    if p.administrations:
        first = p.administrations[0].preparation
        if first is not None:
            lines.append(
                f"lot: {first.concentration}"
                + (f", viability {first.viability}" if first.viability else "")
                + f"  [{first.concentration_source}]"
            )
            lines.append(f"rounding: {first.rounding_rule}")
        lines.append("")
        rows = []
        for a in p.administrations:
            prep = a.preparation
            rows.append(
                (
                    a.sequence,
                    a.study_day,
                    a.target_date.isoformat(),
                    f"{a.earliest.isoformat()}..{a.latest.isoformat()}",
                    a.planned_start.strftime("%H:%M %z"),
                    str(a.ordered_dose) if a.ordered_dose else f"placebo {a.placebo_volume}",
                    str(prep.volume_to_draw) if prep else "",
                    str(prep.diluent) if prep else "",
                    str(prep.final_volume) if prep else str(a.placebo_volume or ""),
                    f"{prep.deviation.value.normalize():+f}%" if prep else "",
                )
            )
        lines.append(
            table(
                ["#", "day", "target", "window", "start", "dose", "draw", "diluent", "final", "deviation"],
                rows,
            )
        )
    else:
        lines.append("\nno administrations on this arm (control: no intervention)")
    if p.assessments:
        lines.append("\nfollow-up assessments")
        lines.append(
            table(
                ["due", "assessment", "after", "measures"],
                [
                    (a.due_date.isoformat(), a.name, f"{a.offset} after {a.after}", ", ".join(a.measures))
                    for a in p.assessments
                ],
            )
        )
    for warning in p.warnings:
        lines.append(f"WARNING {warning}")
    return "\n".join(lines)
