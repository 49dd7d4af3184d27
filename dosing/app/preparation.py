"""The pharmacy's bag life cycle: prepare, verify, release, waste, return, void; and the bedside scan.

Each step takes the Context, checks the actor's authority, signs where a signature is due (prepared by,
verified by, released by, wasted by, returned by, voided by), runs one transaction and writes one audit
entry listing the rows it wrote. Every figure comes from the worksheet (:mod:`dosing.pharmacy.worksheet`);
what a container has left comes from its stock movements (:mod:`dosing.pharmacy.stock`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from dosing.app import clock
from dosing.app.accounts import sign
from dosing.app.authority import audit_refusal, require
from dosing.app.context import Context
from dosing.catalog import get_protocol
from dosing.errors import HardStop
from dosing.free_text import checked_reason
from dosing.pharmacy.custody import (
    BagState,
    check_at_bedside,
    check_drawn_volume,
    check_scanned_lot,
    check_transition,
    check_verifier,
)
from dosing.pharmacy.lots import Lot
from dosing.pharmacy.placebo import PlaceboWorksheet, placebo_worksheet
from dosing.pharmacy.stock import USABLE, Movement, bag_use_by, check_draw, check_thaw_window
from dosing.pharmacy.worksheet import DoseToPrepare, Worksheet, build_worksheet
from dosing.protocol import Protocol
from dosing.store.ledger.audit_entry import _audit
from dosing.store.lots import (
    LotRecord,
    _lot_from_row,
    dose_of_subject,
    get_pharmacy_settings,
    reference_identifier,
)
from dosing.store.models import GivenForm, SignatureIntent
from dosing.store.preparations import (
    Bag,
    Preparation,
    add_event,
    find_bag,
    live_bag,
    next_bag_id,
)
from dosing.store.stock import ContainerStock, add_movement, containers_of, lot_status
from dosing.units import Volume


def prepare(ctx: Context, subject_code: str, sequence: int, password: str, lot: str | None = None) -> Bag:
    """Prepare one dose's bag: figures frozen, bag identifier issued, the draw reserved from a container
    that has it (first-expiry-first-out unless ``lot`` names one), signed "prepared by"."""
    require(ctx, "prepare")
    now = clock.now()
    placebo = _placebo_dose(ctx, subject_code, sequence, now)
    if placebo is not None:
        return _prepare_placebo(ctx, placebo, password, now)
    dose = dose_of_subject(ctx.store, subject_code, sequence, as_of=now)
    protocol = get_protocol(dose.protocol_id)
    signature = sign(ctx, password, "prepared by")
    settings = get_pharmacy_settings()
    with ctx.store.transaction() as session:
        _refuse_live(session, dose.subject_code, sequence)
        lot_row, sheet, container = _choose(session, protocol, dose, lot, now, settings.do_not_dispense_days)
        assert lot_row.id is not None
        use_by = bag_use_by(
            thawed_at=container.thawed_at,
            beyond_use_hours=protocol.product.beyond_use_hours,
            prepared_at=now,
            bag_hours=settings.bag_use_hours,
            lot_expiry=lot_row.expiry,
            timezone=dose.timezone,
        )
        if protocol.product.beyond_use_hours is None and dose.planned_start > use_by:
            raise HardStop(
                "bag use-by",
                f"a bag is prepared no earlier than its use-by allows ({settings.bag_use_hours} h before the "
                "dose; DOSING_BAG_USE_HOURS)",
                f"a bag prepared now is usable until {use_by.isoformat()}, before the dose starts",
            )
        bag_id = next_bag_id(session)
        sheet = sheet.model_copy(
            update={
                "bag_id": bag_id,
                "container": container.container,
                "bag_use_by": use_by,
                "prepared_by": ctx.actor.full_name,
            }
        )
        row = Preparation(
            bag_id=bag_id,
            protocol_id=protocol.id,
            subject_code=dose.subject_code,
            sequence=sequence,
            lot_id=lot_row.id,
            container=container.container,
            placebo=False,
            volume_to_draw_ml=sheet.preparation.volume_to_draw.value,
            final_volume_ml=sheet.preparation.final_volume.value,
            use_by=use_by,
            worksheet=sheet.model_dump(mode="json"),
            prepared_at=now,
            prepared_by=ctx.actor.username,
            prepared_by_name=ctx.actor.full_name,
        )
        session.add(row)
        session.flush()
        reserved = add_movement(
            session,
            lot_id=lot_row.id,
            container=container.container,
            kind=Movement.RESERVED,
            volume_ml=row.volume_to_draw_ml,
            at=now,
            by=ctx.actor.username,
            preparation_id=row.id,
        )
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action="bag.prepared",
            entity="preparations",
            entity_id=row.id,
            protocol_id=protocol.id,
            subject_code=dose.subject_code,
            after={
                "bag": bag_id,
                "dose": sequence,
                "lot": lot_row.identifier,
                "container": container.container,
                "volume_to_draw_ml": str(row.volume_to_draw_ml),
                "use_by": use_by.isoformat(),
            },
            rows=[row, reserved],
            signature=signature,
        )
        return Bag(preparation=row, events=[])


def _refuse_live(session: Session, subject_code: str, sequence: int) -> None:
    live = live_bag(session, subject_code, sequence)
    if live is not None:
        raise HardStop(
            "dose",
            "a dose with a live preparation is not prepared again unless that bag is voided, wasted or "
            "returned with a reason",
            f"{subject_code} dose {sequence} already has bag {live.bag_id} ({live.state})",
        )


def _placebo_dose(ctx: Context, subject_code: str, sequence: int, now: datetime) -> PlaceboWorksheet | None:
    """The placebo worksheet when the dose is a placebo administration, else None."""
    from dosing.store import ledger

    view = ledger.subject_view(ctx.store, subject_code, now)
    dose = next((d for d in view.doses if d.sequence == sequence), None)
    if dose is None or dose.intervention != "placebo":
        return None
    if dose.given is not None:
        raise HardStop(
            "dose", "a dose is prepared once", f"{view.subject_code} dose {sequence} was recorded as given"
        )
    return placebo_worksheet(
        get_protocol(view.protocol_id),
        arm_id=view.arm,
        subject_code=view.subject_code,
        site=view.site,
        timezone=view.timezone,
        sequence=sequence,
        label=dose.label,
        study_day=dose.study_day,
        target_date=dose.target_date,
        planned_start=dose.planned_start,
    )


def _prepare_placebo(ctx: Context, sheet: PlaceboWorksheet, password: str, now: datetime) -> Bag:
    """A placebo bag: no lot, no stock; its use-by is preparation + the site's bag hours; the same life
    cycle (verified, released, scanned at the bedside) as a product bag."""
    signature = sign(ctx, password, "prepared by")
    settings = get_pharmacy_settings()
    use_by = bag_use_by(
        thawed_at=None,
        beyond_use_hours=None,
        prepared_at=now,
        bag_hours=settings.bag_use_hours,
        lot_expiry=None,
        timezone=sheet.timezone,
    )
    with ctx.store.transaction() as session:
        _refuse_live(session, sheet.subject_code, sheet.dose_sequence)
        bag_id = next_bag_id(session)
        sheet = sheet.model_copy(
            update={"bag_id": bag_id, "bag_use_by": use_by, "prepared_by": ctx.actor.full_name}
        )
        row = Preparation(
            bag_id=bag_id,
            protocol_id=sheet.protocol_id,
            subject_code=sheet.subject_code,
            sequence=sheet.dose_sequence,
            lot_id=None,
            container=None,
            placebo=True,
            volume_to_draw_ml=sheet.final_volume.value,
            final_volume_ml=sheet.final_volume.value,
            use_by=use_by,
            worksheet=sheet.model_dump(mode="json"),
            prepared_at=now,
            prepared_by=ctx.actor.username,
            prepared_by_name=ctx.actor.full_name,
        )
        session.add(row)
        session.flush()
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action="bag.prepared",
            entity="preparations",
            entity_id=row.id,
            protocol_id=sheet.protocol_id,
            subject_code=sheet.subject_code,
            after={"bag": bag_id, "dose": sheet.dose_sequence, "placebo": True, "use_by": use_by.isoformat()},
            rows=[row],
            signature=signature,
        )
        return Bag(preparation=row, events=[])


def _choose(
    session: Session, protocol: Protocol, dose: DoseToPrepare, reference: str | None, now: datetime, days: int
) -> tuple[LotRecord, Worksheet, ContainerStock]:
    """The lot and container a dose is drawn from, or the refusal of the first lot that could have served.

    Lots are tried first-expiry-first-out; a quarantined, retired or expired lot is never offered. A
    frozen product is drawn only from a container thawed within its beyond-use time of the dose."""
    query = select(LotRecord).order_by(col(LotRecord.expiry), col(LotRecord.identifier))
    if reference is not None:
        query = query.where(LotRecord.identifier == reference_identifier(reference))
    rows = [
        row for row in session.exec(query).all() if row.product.casefold() == protocol.product.name.casefold()
    ]
    if not rows:
        raise HardStop(
            "lot",
            f"a registered lot of {protocol.product.name}",
            f"{reference!r} is not a registered lot of it"
            if reference
            else "none is registered ('dosing lots add')",
        )
    first: HardStop | None = None
    held: HardStop | None = None
    for row in rows:
        assert row.id is not None
        status = lot_status(session, row.id)
        if status not in USABLE:
            # Said only when no usable lot has more to say (why the usable lot cannot serve matters more).
            held = held or HardStop(
                "lot", "a quarantined or retired lot is never offered", f"lot {row.identifier} is {status}"
            )
            continue
        try:
            lot = _lot_from_row(row)
            sheet = build_worksheet(protocol, dose, lot, do_not_dispense_days=days)
            container = _container(session, row, lot, protocol, sheet, dose, now)
            return row, sheet, container
        except HardStop as refusal:
            first = first or refusal
    reported = first or held
    assert reported is not None
    raise reported


def _container(
    session: Session,
    row: LotRecord,
    lot: Lot,
    protocol: Protocol,
    sheet: Worksheet,
    dose: DoseToPrepare,
    now: datetime,
) -> ContainerStock:
    assert row.id is not None
    draw = sheet.preparation.volume_to_draw
    containers = containers_of(session, row.id, row.volume_ml)
    with_volume = [c for c in containers if c.tally.remaining.value >= draw.value]
    if not with_volume:
        fullest = max(containers, key=lambda c: c.tally.remaining.value)
        left = sum((c.tally.remaining.value for c in containers), Decimal(0))
        check_draw(
            fullest.tally,
            draw,
            f"{lot.describe()} (container {fullest.container}; {left} mL left in the lot)",
        )
    if protocol.product.beyond_use_hours is None:
        return with_volume[0]
    thawed = [c for c in with_volume if c.thawed_at is not None]
    refusal: HardStop | None = None
    for item in thawed:
        assert item.thawed_at is not None and item.use_by is not None
        try:
            check_thaw_window(
                f"{lot.describe()} container {item.container}",
                item.thawed_at,
                item.use_by,
                dose.planned_start,
                now,
            )
            return item
        except HardStop as outside:
            refusal = refusal or outside
    if refusal is not None:
        raise refusal
    frozen = next(c for c in with_volume if c.thawed_at is None)
    raise HardStop(
        "thaw",
        f"{protocol.product.name} is drawn from a container thawed within "
        f"{protocol.product.beyond_use_hours} h of the dose",
        f"no container of {lot.describe()} with {draw} left is thawed; thaw one first: "
        f"dosing lots thaw {lot.identifier} --container {frozen.container}",
    )


def _step(
    ctx: Context,
    bag_id: str,
    action: str,
    state: BagState,
    password: str,
    meaning: str,
    work: Callable[[Session, Bag, datetime], dict[str, Any]],
) -> Bag:
    """One hand-over of a bag: authority, signature, the transition, its rows and its audit entry."""
    require(ctx, action)
    signature: SignatureIntent = sign(ctx, password, meaning)
    now = clock.now()
    with ctx.store.transaction() as session:
        bag = find_bag(session, bag_id)
        check_transition(bag.bag_id, bag.state, state)
        extra = work(session, bag, now)
        rows: list[Any] = extra.pop("rows", [])
        event = add_event(
            session, bag, state, at=now, by=ctx.actor.username, by_name=ctx.actor.full_name, **extra
        )
        p = bag.preparation
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action=f"bag.{state.value}",
            entity="preparations",
            entity_id=p.id,
            protocol_id=p.protocol_id,
            subject_code=p.subject_code,
            reason=extra.get("reason"),
            before={"state": bag.state.value},
            after={"bag": p.bag_id, "state": state.value},
            rows=[event, *rows],
            signature=signature,
        )
        return Bag(preparation=p, events=[*bag.events, event])


def verify(ctx: Context, bag_id: str, drawn: Volume, scanned_lot: str | None, password: str) -> Bag:
    """The independent double check: another pharmacist scans the lot and re-enters the volume drawn."""

    def work(session: Session, bag: Bag, now: datetime) -> dict[str, Any]:
        p = bag.preparation
        check_verifier(p.bag_id, p.prepared_by, ctx.actor.username)
        lot_identifier = p.worksheet.get("lot_identifier") if not p.placebo else None
        scanned = reference_identifier(scanned_lot) if scanned_lot else None
        check_scanned_lot(p.bag_id, lot_identifier, scanned)
        increment = get_protocol(p.protocol_id).preparation.volume_increment
        check_drawn_volume(p.bag_id, Volume(value=p.volume_to_draw_ml), drawn, increment)
        return {"drawn_volume_ml": drawn.value, "scanned_lot": scanned}

    return _step(ctx, bag_id, "verify_preparation", BagState.VERIFIED, password, "verified by", work)


def release(ctx: Context, bag_id: str, password: str) -> Bag:
    """The pharmacy releases a verified bag to the ward (refused once the bag's use-by has passed)."""

    def work(session: Session, bag: Bag, now: datetime) -> dict[str, Any]:
        if now > bag.preparation.use_by:
            raise HardStop(
                "bag",
                "a bag is released before its use-by time",
                f"{bag.bag_id} expired at {bag.preparation.use_by}",
            )
        return {}

    return _step(ctx, bag_id, "release_preparation", BagState.RELEASED, password, "released by", work)


def _reason(reason: str) -> str:
    text = checked_reason(reason.strip())
    if not text:
        raise HardStop("reason", "a bag leaves the chain of custody with a reason", "give the reason")
    return text[:500]


def _leave(
    ctx: Context, bag_id: str, state: BagState, kind: Movement, reason: str, password: str, meaning: str
) -> Bag:
    """A bag leaves the chain (wasted, returned, voided) with a reason; its reservation moves as ``kind``."""
    why = _reason(reason)

    def work(session: Session, bag: Bag, now: datetime) -> dict[str, Any]:
        p = bag.preparation
        rows: list[Any] = []
        if p.lot_id is not None and p.container is not None:
            rows.append(
                add_movement(
                    session,
                    lot_id=p.lot_id,
                    container=p.container,
                    kind=kind,
                    volume_ml=p.volume_to_draw_ml,
                    at=now,
                    by=ctx.actor.username,
                    preparation_id=p.id,
                    reason=why,
                )
            )
        return {"reason": why, "rows": rows}

    return _step(ctx, bag_id, "prepare", state, password, meaning, work)


def waste(ctx: Context, bag_id: str, reason: str, password: str) -> Bag:
    """A bag wasted: what it drew is written off as waste (nothing returns to stock)."""
    return _leave(ctx, bag_id, BagState.WASTED, Movement.WASTED, reason, password, "wasted by")


def return_bag(ctx: Context, bag_id: str, reason: str, password: str) -> Bag:
    """A released bag returned to the pharmacy unused: it cannot go back into a container, so what it drew
    is written off as waste; the dose can be prepared again."""
    return _leave(ctx, bag_id, BagState.RETURNED, Movement.WASTED, reason, password, "returned by")


def void(ctx: Context, bag_id: str, reason: str, password: str) -> Bag:
    """A preparation voided before it was verified (nothing drawn): its reservation returns to stock."""
    return _leave(ctx, bag_id, BagState.VOIDED, Movement.UNRESERVED, reason, password, "voided by")


# --- the bedside scan, inside the transaction that records the dose ------------------------------------


def bedside(
    ctx: Context, bag_id: str, form: GivenForm
) -> tuple[GivenForm, Callable[[Session, Any], list[Any]]]:
    """The bedside scan of ``bag_id`` for the dose ``form`` records: the form with the bag's lot (a typed
    lot must be the bag's), and the check-and-consume step for the record's transaction.

    A refused scan (another subject's or dose's bag, an expired, unverified or unreleased bag) is written
    to the audit log as a refused attempt, and nothing else is recorded."""
    with ctx.store.session() as session:
        found = find_bag(session, bag_id)
    p = found.preparation
    try:
        check_at_bedside(found.facts(), form.subject_code, form.sequence, clock.now())
        lot_number, din = p.worksheet.get("lot_number"), p.worksheet.get("din")
        typed = [reference_identifier(ref) for ref in (form.lot, form.din) if ref]
        if any(ref not in (lot_number, din) for ref in typed):
            raise HardStop(
                "lot",
                "the lot recorded is the lot of the bag scanned",
                f"{p.bag_id} is from {din or lot_number}",
            )
    except HardStop as refusal:
        audit_refusal(
            ctx, "record", f"bedside scan of {p.bag_id} refused: {refusal}", subject_code=form.subject_code
        )
        raise
    filled = form.model_copy(update={"lot": lot_number, "din": din}) if not p.placebo else form
    return filled, administered_at_bedside(ctx, p.bag_id, form.subject_code, form.sequence)


def administered_at_bedside(
    ctx: Context, bag_id: str, subject_code: str, sequence: int
) -> Callable[[Session, Any], list[Any]]:
    """What the ledger runs after it wrote the administration record, in the same transaction: the scanned
    bag is checked (this subject and dose, released, within its use-by) and consumed. A refusal rolls
    the whole record back."""

    def consume(session: Session, event: Any) -> list[Any]:
        now = clock.now()
        bag = find_bag(session, bag_id)
        check_at_bedside(bag.facts(), subject_code, sequence, now)
        p = bag.preparation
        rows: list[Any] = [
            add_event(
                session,
                bag,
                BagState.ADMINISTERED,
                at=now,
                by=ctx.actor.username,
                by_name=ctx.actor.full_name,
                administration_event_id=event.id,
            )
        ]
        if p.lot_id is not None and p.container is not None:
            rows.append(
                add_movement(
                    session,
                    lot_id=p.lot_id,
                    container=p.container,
                    kind=Movement.USED,
                    volume_ml=p.volume_to_draw_ml,
                    at=now,
                    by=ctx.actor.username,
                    preparation_id=p.id,
                )
            )
        return rows

    return consume


def bag(ctx: Context, bag_id: str) -> Bag:
    require(ctx, "read_ledger")
    with ctx.store.session() as session:
        return find_bag(session, bag_id)


def live_bags(ctx: Context, doses: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Bag]:
    """The bag still prepared, verified or released for each of ``doses`` ((subject code, sequence)),
    for those that have one."""
    require(ctx, "read_ledger")
    found: dict[tuple[str, int], Bag] = {}
    with ctx.store.session() as session:
        for subject_code, sequence in doses:
            live = live_bag(session, subject_code, sequence)
            if live is not None:
                found[(subject_code, sequence)] = live
    return found
