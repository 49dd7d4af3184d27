"""``dosing lots ...`` and ``dosing prep``: register product lots; write worksheets and bag labels.

    dosing lots add --din G123498654321 --check H --product UC-MSC --concentration 2e6/mL \\
        --viability 95% --volume 50mL --expiry 2027-12-31
    dosing lots list                                  # received / reserved / used / wasted / remaining
    dosing lots show L100                             # per container, with thaws
    dosing lots thaw L100 --container 1
    dosing lots quarantine|release|retire L100 --reason "..."     # signed
    dosing prep --from 2026-12-01 --to 2026-12-03 --site renji-shanghai -o worksheets/   # the queue
    dosing prep S-001 1 --lot G123498654321 -o worksheets/            # one dose
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from dosing.app.typed import parse_date, plausible_date
from dosing.catalog import library
from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    AsOf,
    as_of_option,
    as_of_or_now,
    database_url_option,
    output_option,
    site_option,
    subject_zone,
    timezone_option,
    zone_for,
)
from dosing.cli.session import password_stdin_option
from dosing.dose import weight_change_warning
from dosing.errors import DosingError, HardStop
from dosing.plausibility import check_body_weight, check_lot_not_expired_on_receipt, check_weight_measured_on
from dosing.settings import site_limits
from dosing.units import AmountUnit, parse_concentration, parse_percent, parse_volume, parse_weight


def _product_unit(product: str) -> AmountUnit:
    units = {
        p.product.amount_unit for p in library().values() if p.product.name.casefold() == product.casefold()
    }
    if not units:
        known = ", ".join(sorted({p.product.name for p in library().values()}))
        raise DosingError(
            "product", f"a product of a protocol in the library ({known})", f"unknown {product!r}"
        )
    if len(units) > 1:  # pragma: no cover - the library names one product one way
        raise DosingError("product", "one unit per product name", f"{product} is counted in several units")
    return units.pop()


def _expiry(text: str, field: str = "expiry") -> date:
    return parse_date(text, field)


@click.group()
def lots() -> None:
    """Register and list product lots."""


@lots.command("add")
@click.option("--product", required=True, help="Product name as the protocol spells it, e.g. UC-MSC.")
@click.option("--din", help="ISBT 128 Donation Identification Number (13 characters).")
@click.option("--check", "check_character", help="The DIN's check character as printed on the label.")
@click.option("--lot-number", help="Manufacturer's lot number (instead of a DIN).")
@click.option("--concentration", "concentration_text", required=True, help="Per mL, e.g. 2e6/mL.")
@click.option("--viability", "viability_text", help="Post-thaw viability, e.g. 95% (cell products).")
@click.option("--volume", "volume_text", required=True, help="Volume of each container, e.g. 50mL.")
@click.option(
    "--containers", type=click.IntRange(min=1), default=1, show_default=True, help="Containers received."
)
@click.option("--expiry", "expiry_text", required=True, help="Expiry date, YYYY-MM-DD.")
@database_url_option
@json_option
def add_lot_command(
    product: str,
    din: str | None,
    check_character: str | None,
    lot_number: str | None,
    concentration_text: str,
    viability_text: str | None,
    volume_text: str,
    containers: int,
    expiry_text: str,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Register a lot, attributed to you; a DIN is checked against its check character (ISO 7064 mod 37-2)."""
    from dosing.app import clock
    from dosing.app.lot_register import register_lot
    from dosing.cli.session import signed_in
    from dosing.pharmacy.lots import Lot
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "register_lot")
    unit = _product_unit(product)
    lot = Lot.checked(
        {
            "product": product,
            "din": din,
            "check_character": check_character,
            "lot_number": lot_number,
            "concentration": parse_concentration(concentration_text, default_unit=unit),
            "viability": parse_percent(viability_text) if viability_text is not None else None,
            "volume": parse_volume(volume_text),
            "expiry": _expiry(expiry_text),
        }
    )
    if lot.concentration.amount_unit is not unit:
        # 2e6 mg/mL of a cell product is a slip: the register would hold a lot no dose can use.
        raise DosingError(
            "concentration",
            f"{product} is counted in {unit.noun}: a concentration in {unit.noun} per mL",
            f"{concentration_text!r} counts {lot.concentration.amount_unit.noun}",
        )
    products = [p.product for p in library().values() if p.product.name.casefold() == product.casefold()]
    for definition in products:
        # A concentration no lot of the product has is a typo: refused before it reaches the register.
        definition.check_concentration(lot.concentration)
    unusable: list[HardStop] = []
    for definition in products:
        try:
            definition.check_viability(lot.viability)
        except HardStop as below_release:
            unusable.append(below_release)
    try:
        check_lot_not_expired_on_receipt(lot.expiry, clock.now().astimezone(UTC).date())
    except HardStop as expired:
        unusable.insert(0, expired)
    registered = register_lot(ctx, lot, containers=containers)
    for warning in unusable[:1]:
        # Registered (the register records what arrived), but prep refuses it and never picks it.
        click.secho(f"warning: {warning}; prep will not use this lot", fg="yellow", err=True)
    if as_json:
        emit_json({**registered.summary(), "containers": containers})
        return
    click.echo(
        f"registered {lot.describe()}: {lot.product}, {lot.concentration}"
        + (f", viability {lot.viability}" if lot.viability else "")
        + f", {containers} x {lot.volume}, expires {lot.expiry.isoformat()}"
    )


@lots.command("list")
@click.option("--product", help="Only lots of this product.")
@click.option("--on", "on_text", help="Show days to expiry as of this date (default today, UTC).")
@database_url_option
@json_option
def list_lots_command(
    product: str | None, on_text: str | None, database_url: str | None, as_json: bool
) -> None:
    """Registered lots, soonest expiry first (the order to use them in)."""
    from dosing.app.stock import stock_list
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    on = _expiry(on_text, "on") if on_text else datetime.now(UTC).date()
    ctx = signed_in(open_store(database_url), "read_ledger")
    lots_held = stock_list(ctx, product=product)
    if as_json:
        emit_json(
            [
                {**item.summary(), "days_to_expiry": (item.registered.lot.expiry - on).days}
                for item in lots_held
            ]
        )
        return
    rows = []
    for item in lots_held:
        lot, tally = item.registered.lot, item.tally
        rows.append(
            (
                lot.identifier,
                lot.check_character or "",
                lot.product,
                str(lot.concentration),
                str(lot.viability) if lot.viability else "",
                item.status.value,
                str(tally.received),
                str(tally.reserved),
                str(tally.used),
                str(tally.wasted),
                str(tally.remaining),
                lot.expiry.isoformat(),
                "EXPIRED" if lot.expiry < on else (lot.expiry - on).days,
            )
        )
    headers = ["lot/DIN", "check", "product", "concentration", "viability", "status", "received", "reserved"]
    click.echo(table([*headers, "used", "wasted", "remaining", "expiry", "days"], rows))


@lots.command("show")
@click.argument("lot_reference", metavar="LOT")
@database_url_option
@json_option
def show_lot_command(lot_reference: str, database_url: str | None, as_json: bool) -> None:
    """One LOT (lot number or DIN): status, and per container what was received, reserved, used, wasted
    and remains."""
    from dosing.app.stock import lot_stock
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "read_ledger")
    item = lot_stock(ctx, lot_reference)
    if as_json:
        emit_json(item.summary())
        return
    lot, tally = item.registered.lot, item.tally
    click.echo(f"{lot.describe()}: {lot.product}, {lot.concentration}, expires {lot.expiry.isoformat()}")
    click.echo(
        f"status {item.status.value}; received {tally.received}, reserved {tally.reserved}, "
        f"used {tally.used}, wasted {tally.wasted}, remaining {tally.remaining}"
    )
    rows = [
        (
            c.container,
            str(c.tally.received),
            str(c.tally.reserved),
            str(c.tally.used),
            str(c.tally.wasted),
            str(c.tally.remaining),
            c.thawed_at.isoformat() if c.thawed_at else "",
            c.use_by.isoformat() if c.use_by else "",
        )
        for c in item.containers
    ]
    click.echo(
        table(["container", "received", "reserved", "used", "wasted", "remaining", "thawed", "use by"], rows)
    )


@lots.command("thaw")
@click.argument("lot_reference", metavar="LOT")
@click.option("--container", type=click.IntRange(min=1), required=True, help="Container number (1, 2, ...).")
@database_url_option
@json_option
def thaw_command(lot_reference: str, container: int, database_url: str | None, as_json: bool) -> None:
    """Record that a container of LOT (lot number or DIN) was thawed now; it serves doses for the
    product's beyond-use time."""
    from dosing.app.stock import thaw
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "prepare")
    thawed = thaw(ctx, lot_reference, container)
    if as_json:
        emit_json({"lot": lot_reference, "container": container, "thawed_at": thawed.thawed_at.isoformat(),
                   "use_by": thawed.use_by.isoformat()})  # fmt: skip
        return
    click.echo(
        f"thawed container {container} of {lot_reference} at {thawed.thawed_at.isoformat()}; "
        f"usable until {thawed.use_by.isoformat()}"
    )


def _status_command(status_name: str, meaning: str) -> click.Command:
    @click.command(
        status_name, help=f"{meaning}: LOT is its lot number or DIN (signed and audited; --reason required)."
    )
    @click.argument("lot_reference", metavar="LOT")
    @click.option("--reason", required=True, help="Why (audited).")
    @password_stdin_option
    @database_url_option
    @json_option
    def command(
        lot_reference: str, reason: str, password_stdin: bool, database_url: str | None, as_json: bool
    ) -> None:
        from dosing.app.stock import change_lot_status
        from dosing.cli.session import read_password, signed_in
        from dosing.pharmacy.stock import LotStatus
        from dosing.store import open_store

        ctx = signed_in(open_store(database_url), "change_lot_status")
        wanted = {
            "quarantine": LotStatus.QUARANTINED,
            "release": LotStatus.RELEASED,
            "retire": LotStatus.RETIRED,
        }
        item = change_lot_status(
            ctx, lot_reference, wanted[status_name], reason, read_password(password_stdin)
        )
        if as_json:
            emit_json(item.summary())
            return
        click.echo(f"{item.registered.lot.describe()} is now {item.status.value}")

    return command


lots.add_command(_status_command("quarantine", "Quarantine a lot: it is not offered for any dose"))
lots.add_command(
    _status_command("release", "Release a lot against the release criterion (post-thaw viability)")
)
lots.add_command(_status_command("retire", "Retire a lot for good"))


def _range_bound(text: str, field: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """A date is a whole local day (an end date includes its day); a naive date-time is local."""
    try:
        if "T" not in text and " " not in text.strip():
            day = plausible_date(date.fromisoformat(text), field)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except DosingError:
        raise  # a date outside the plausible years keeps its own rule
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date or date-time", f"{text!r} is not one") from error
    plausible_date(moment, field)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@click.command()
@click.argument("subject", required=False)
@click.argument("dose", type=int, required=False)
@click.option(
    "--from", "from_text", metavar="DATETIME",
    help="Queue: doses planned to start from this date or date-time (the site's clock unless an offset).",
)  # fmt: skip
@click.option(
    "--to", "to_text", metavar="DATETIME",
    help="Queue: up to this date or date-time (a date includes the whole day).",
)  # fmt: skip
@site_option("Queue: only this site's doses; its clock reads --from, --to and --as-of.")
@timezone_option("Queue: read --from, --to and --as-of on this clock instead of the site's.")
@click.option(
    "--lot", "lot_reference", help="Lot number or DIN (typed or scanned); default: first to expire."
)
@output_option("Folder for the worksheets and labels (created if missing).", required=True, metavar="DIR")
@click.option(
    "--do-not-dispense-days",
    type=click.IntRange(min=0),
    envvar="DOSING_DO_NOT_DISPENSE_DAYS",
    default=0,
    show_default=True,
    help="Refuse a lot fewer than this many days from expiry (DOSING_DO_NOT_DISPENSE_DAYS).",
)
@click.option(
    "--patient-name-line/--no-patient-name-line",
    envvar="DOSING_LABEL_PATIENT_NAME",
    default=False,
    help="Print a blank 'Patient name' line on labels (DOSING_LABEL_PATIENT_NAME).",
)
@click.option(
    "--weight",
    "weight_text",
    help="With SUBJECT DOSE: today's weight (e.g. 68kg), flagged when it moved past the protocol's alert.",
)
@as_of_option(
    "Status of doses as of this moment (default now): ISO 8601; without an offset on the site's clock "
    "(the subject's, or the queue's)."
)
@database_url_option
@json_option
def prep(
    subject: str | None,
    dose: int | None,
    weight_text: str | None,
    from_text: str | None,
    to_text: str | None,
    site: str | None,
    timezone: str | None,
    lot_reference: str | None,
    output: Path,
    do_not_dispense_days: int,
    patient_name_line: bool,
    as_of: AsOf | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Worksheet (PDF, CSV, JSON) and bag label (PDF) for one dose (SUBJECT DOSE: a subject code and a
    dose number, e.g. S-001 1) or the queue (--from/--to, on the site's clock).

    Every dose's lot is checked (product, expiry, do-not-dispense days, volume); a dose that cannot be
    prepared is reported with the rule it breaks, the others are written, and the exit status is 2.
    """
    from dosing.app.stock import stock_list
    from dosing.catalog import get_protocol
    from dosing.cli.output_paths import folder_to_write
    from dosing.pharmacy.render import LabelOptions, write_worksheet_files
    from dosing.pharmacy.stock import USABLE
    from dosing.pharmacy.worksheet import DoseToPrepare, build_worksheet, worksheet_with_first_expiring_lot
    from dosing.store import open_store
    from dosing.store.ledger.safety_hold import study_hold
    from dosing.store.lots import dose_of_subject, doses_due, get_lot

    folder_to_write(output)
    if weight_text is not None and subject is None:
        raise DosingError("weight", "--weight goes with SUBJECT DOSE", "today's weight is one patient's")
    limits = site_limits()
    current_weight = parse_weight(weight_text) if weight_text is not None else None
    if current_weight is not None:
        check_body_weight(current_weight, limits)
    from dosing.cli.session import signed_in

    ctx = signed_in(open_store(database_url), "read_ledger")
    store = ctx.store
    doses: list[DoseToPrepare]
    if subject is not None:
        if dose is None:
            raise DosingError("dose", "SUBJECT DOSE, e.g. S-001 1", "give the dose number")
        if from_text or to_text or site or timezone:
            raise DosingError(
                "from/to",
                "either SUBJECT DOSE or the queue (--from/--to, --site, --timezone)",
                "give one of them",
            )
        as_of_moment = as_of_or_now(as_of, subject_zone(store, subject))
        doses = [dose_of_subject(store, subject, dose, as_of=as_of_moment)]
    else:
        if not (from_text and to_text):
            raise DosingError("from/to", "SUBJECT DOSE, or --from and --to for the queue", "missing")
        zone_name = zone_for(site, timezone)
        zone = ZoneInfo(zone_name)
        start = _range_bound(from_text, "from", zone, end=False)
        end = _range_bound(to_text, "to", zone, end=True)
        due = doses_due(store, start, end, as_of=as_of_or_now(as_of, zone_name))
        doses = [item for item in due if site is None or item.site == site]

    chosen = get_lot(store, lot_reference) if lot_reference is not None else None
    # A quarantined or retired lot is never offered (an expired one is refused by the worksheet).
    registered = (
        [item.registered.lot for item in stock_list(ctx) if item.status in USABLE] if chosen is None else []
    )
    options = LabelOptions(patient_name_line=patient_name_line)
    results: list[dict[str, Any]] = []
    refused = 0
    for item in doses:
        protocol = get_protocol(item.protocol_id)
        entry: dict[str, Any] = {
            "subject_code": item.subject_code,
            "protocol_id": item.protocol_id,
            "dose": item.sequence,
            "planned_start": item.planned_start.isoformat(),
        }
        try:
            study_hold(store, item.protocol_id).refuse("dose", "preparing a dose")
            if item.dose_per_kg is not None and current_weight is None:
                # The bag is computed from the stored weight: it must be recent enough to dose on.
                check_weight_measured_on(
                    item.weight_measured_on or item.local_date, item.local_date, limits, when="the dose"
                )
            if chosen is not None:
                sheet = build_worksheet(protocol, item, chosen, do_not_dispense_days=do_not_dispense_days)
            else:
                sheet = worksheet_with_first_expiring_lot(
                    protocol, item, registered, do_not_dispense_days=do_not_dispense_days
                )
        except HardStop as refusal:
            refused += 1
            results.append({**entry, "refused": refusal.as_dict()})
            continue
        if current_weight is not None:
            # The dose stays the enrollment weight's; a large change is shown for the pharmacist to confirm.
            moved = weight_change_warning(
                item.weight, current_weight, protocol.preparation.weight_change_alert
            )
            if moved is not None:
                sheet = sheet.model_copy(update={"warnings": [*sheet.warnings, moved]})
        files = write_worksheet_files(sheet, output, options)
        p = sheet.preparation
        results.append(
            {
                **entry,
                "lot": sheet.lot_identifier,
                "ordered_dose": sheet.ordered_dose.model_dump(mode="json"),
                "volume_to_draw": p.volume_to_draw.model_dump(mode="json"),
                "diluent": p.diluent.model_dump(mode="json"),
                "final_volume": p.final_volume.model_dump(mode="json"),
                "latest_thaw": sheet.latest_thaw.isoformat() if sheet.latest_thaw else None,
                "course": item.course,
                "warnings": [w.model_dump() for w in sheet.warnings],
                "files": {key: str(path) for key, path in files.model_dump().items()},
            }
        )
    if as_json:
        emit_json(results)
    else:
        _print_queue(results)
    if refused:
        raise SystemExit(2)


def _print_queue(results: list[dict[str, Any]]) -> None:
    if not results:
        click.echo("no product doses to prepare in that range")
        return
    rows = []
    for r in results:
        if "refused" in r:
            why = r["refused"]
            rows.append((r["subject_code"], r["dose"], r["planned_start"], "REFUSED", "", "", ""))
            click.secho(
                f"REFUSED {r['subject_code']} dose {r['dose']}: {why['field']}: {why['message']} "
                f"(rule: {why['rule']})",
                fg="red",
                err=True,
            )
            continue
        rows.append(
            (
                r["subject_code"],
                r["dose"],
                r["planned_start"],
                r["lot"],
                f"{r['volume_to_draw']['value']} mL",
                f"{r['diluent']['value']} mL",
                r["latest_thaw"] or "",
            )
        )
    click.echo(table(["subject", "dose", "planned start", "lot", "draw", "diluent", "latest thaw"], rows))
    written = [r["files"]["worksheet_pdf"] for r in results if "files" in r]
    if written:
        click.echo(f"\n{len(written)} worksheet(s) and label(s) written to {Path(written[0]).parent}")
    for r in results:
        if r.get("course"):
            click.echo(f"COURSE {r['subject_code']}: {r['course']}")
        for warning in r.get("warnings", []):
            click.echo(
                f"WARNING {r['subject_code']} dose {r['dose']}: {warning['field']}: {warning['message']}"
            )


# --- dosing bag: the chain of custody of one bag ------------------------------------------------------


@click.group()
def bag() -> None:
    """A bag's chain of custody: prepare, verify, release, then administered (dosing record --bag),
    returned or wasted; void before verification."""


def _bag_line(item: Any) -> str:
    p = item.preparation
    return (
        f"bag {p.bag_id} {item.state.value}: {p.subject_code} dose {p.sequence}, "
        f"draw {p.volume_to_draw_ml} mL from {p.worksheet.get('lot_identifier')} container {p.container}, "
        f"final {p.final_volume_ml} mL, use by {p.use_by.isoformat()}"
    )


def _emit_bag(item: Any, as_json: bool, files: dict[str, str] | None = None) -> None:
    if as_json:
        emit_json({**item.summary(), **({"files": files} if files else {})})
        return
    click.echo(_bag_line(item))
    for path in (files or {}).values():
        click.echo(f"  wrote {path}")


def _bag_files(ctx: Any, item: Any, folder: Path, weight_warning: Any = None) -> dict[str, str]:
    from dosing.catalog import get_protocol
    from dosing.pharmacy.custody import BagState
    from dosing.pharmacy.label import bag_label
    from dosing.pharmacy.placebo import PlaceboWorksheet, masked, placebo_label
    from dosing.pharmacy.render import write_bag_files
    from dosing.pharmacy.worksheet import Worksheet
    from dosing.store.lots import get_pharmacy_settings

    settings = get_pharmacy_settings()
    verified = item.by_state(BagState.VERIFIED)
    verified_by = verified.by_name if verified is not None else "NOT VERIFIED"
    checked = {"checked_by": verified.by_name} if verified is not None else {}
    if item.preparation.placebo:
        placebo = PlaceboWorksheet.model_validate(item.preparation.worksheet).model_copy(update=checked)
        written = write_bag_files(
            placebo, placebo_label(placebo, verified_by=verified_by, facility=settings.facility), folder
        )
        return {key: str(path) for key, path in written.model_dump().items()}
    sheet = Worksheet.model_validate(item.preparation.worksheet).model_copy(update=checked)
    if weight_warning is not None:
        sheet = sheet.model_copy(update={"warnings": [*sheet.warnings, weight_warning]})
    label = bag_label(
        sheet,
        verified_by=verified_by,
        product_code=settings.product_codes.get(sheet.product),
        facility=settings.facility,
        blinded=masked(get_protocol(sheet.protocol_id)),
    )
    written = write_bag_files(sheet, label, folder)
    return {key: str(path) for key, path in written.model_dump().items()}


@bag.command("prepare")
@click.argument("subject")
@click.argument("dose", type=int)
@click.option(
    "--lot", "lot_reference", help="Lot number or DIN (typed or scanned); default: first to expire."
)
@output_option("Also write the worksheet and label into this folder.", metavar="DIR")
@password_stdin_option
@database_url_option
@json_option
def prepare_command(
    subject: str,
    dose: int,
    lot_reference: str | None,
    output: Path | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Prepare SUBJECT's DOSE: figures frozen, bag identifier issued, the draw reserved; signed
    "prepared by"."""
    from dosing.app import preparation
    from dosing.cli.session import read_password, signed_in
    from dosing.store import open_store

    if output is not None:
        from dosing.cli.output_paths import folder_to_write

        folder_to_write(output)  # before the bag is prepared: a bad folder leaves nothing half done
    ctx = signed_in(open_store(database_url), "prepare")
    item = preparation.prepare(ctx, subject, dose, read_password(password_stdin), lot=lot_reference)
    files = _bag_files(ctx, item, output) if output is not None else None
    _emit_bag(item, as_json, files)


@bag.command("verify")
@click.argument("bag_id")
@click.option(
    "--drawn", "drawn_text", required=True, help="The volume you measured in the syringe, e.g. 13.1mL."
)
@click.option("--lot", "scanned_lot", help="The lot or DIN scanned from the container (required for a lot).")
@password_stdin_option
@database_url_option
@json_option
def verify_command(
    bag_id: str,
    drawn_text: str,
    scanned_lot: str | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Independent double check of the bag BAG_ID by another pharmacist: re-enter the volume drawn and
    scan the lot."""
    from dosing.app import preparation
    from dosing.cli.session import read_password, signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "verify_preparation")
    drawn = parse_volume(drawn_text, field="drawn")
    item = preparation.verify(ctx, bag_id, drawn, scanned_lot, read_password(password_stdin))
    _emit_bag(item, as_json)


@bag.command("release")
@click.argument("bag_id")
@password_stdin_option
@database_url_option
@json_option
def release_command(bag_id: str, password_stdin: bool, database_url: str | None, as_json: bool) -> None:
    """Release the verified bag BAG_ID (e.g. B0000001) to the ward (signed "released by")."""
    from dosing.app import preparation
    from dosing.cli.session import read_password, signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "release_preparation")
    _emit_bag(preparation.release(ctx, bag_id, read_password(password_stdin)), as_json)


def _leaving_command(name: str, doc: str) -> click.Command:
    @click.command(name, help=f"{doc} BAG_ID is the bag's identifier, e.g. B0000001.")
    @click.argument("bag_id")
    @click.option("--reason", required=True, help="Why (audited).")
    @password_stdin_option
    @database_url_option
    @json_option
    def command(
        bag_id: str, reason: str, password_stdin: bool, database_url: str | None, as_json: bool
    ) -> None:
        from dosing.app import preparation
        from dosing.cli.session import read_password, signed_in
        from dosing.store import open_store

        ctx = signed_in(open_store(database_url), "prepare")
        act = {"waste": preparation.waste, "return": preparation.return_bag, "void": preparation.void}[name]
        _emit_bag(act(ctx, bag_id, reason, read_password(password_stdin)), as_json)

    return command


bag.add_command(_leaving_command("waste", "Waste a bag, with the reason: nothing it drew returns to stock."))
bag.add_command(
    _leaving_command(
        "return", "A released bag returned unused, with the reason: written off, the dose can be redone."
    )
)
bag.add_command(
    _leaving_command(
        "void", "Void a preparation before verification, with the reason: its reservation returns."
    )
)


@bag.command("show")
@click.argument("bag_id")
@database_url_option
@json_option
def show_bag_command(bag_id: str, database_url: str | None, as_json: bool) -> None:
    """The bag BAG_ID (e.g. B0000001): its figures, use-by and every hand-over."""
    from dosing.app import preparation
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "read_ledger")
    item = preparation.bag(ctx, bag_id)
    if as_json:
        emit_json(item.summary())
        return
    click.echo(_bag_line(item))
    for event in item.events:
        click.echo(
            f"  {event.at.isoformat()} {event.state} by {event.by_name}"
            + (f": {event.reason}" if event.reason else "")
        )


@bag.command("label")
@click.argument("bag_id")
@output_option("Folder for the label and worksheet files (created if missing).", required=True, metavar="DIR")
@database_url_option
@json_option
def label_command(bag_id: str, output: Path, database_url: str | None, as_json: bool) -> None:
    """The ISBT 128 label (PDF, ZPL) and worksheet (PDF, CSV, JSON) of the bag BAG_ID, with who prepared
    and verified it."""
    from dosing.app import preparation
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "read_ledger")
    item = preparation.bag(ctx, bag_id)
    _emit_bag(item, as_json, _bag_files(ctx, item, output))
