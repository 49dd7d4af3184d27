"""Pharmacy prep list: the doses due in the next N hours with their preparation figures.

The queue is the store's (``dosing.store.lots.doses_due``: product doses planned to start in the
period, nothing recorded yet). Figures come from the pharmacy worksheet (``dosing.pharmacy``) with the
registered lot a pharmacist would draw from (first expiry, first out), else from the protocol's
reference lot as the plan computes them, and the list says which. The list is read-only: running it
twice changes nothing in the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dosing.app.spreadsheet import csv_text
from dosing.catalog import check_site, get_protocol
from dosing.errors import DosingError
from flows.calendar_files import write_if_changed
from flows.failures import RESULT_SERIALIZER, data_free_failures
from flows.run_progress import report
from flows.store_access import (
    RETRIES,
    RETRY_DELAYS_SECONDS,
    retry_on_transient_database_error,
    store_for,
)

if TYPE_CHECKING:
    from dosing.dose import PreparationFigures
    from dosing.pharmacy.lots import Lot
    from dosing.pharmacy.worksheet import DoseToPrepare
    from dosing.stopping import StudyHold

COLUMNS = [
    "planned_start",
    "site",
    "protocol_id",
    "subject_code",
    "sequence",
    "label",
    "ordered_dose",
    "lot",
    "latest_thaw",
    "concentration",
    "concentration_source",
    "volume_to_draw",
    "diluent",
    "final_volume",
    "delivered_dose",
    "deviation",
    "refusal",
    "course",
]


def reference_figures(dose: DoseToPrepare) -> PreparationFigures | None:
    """The plan's figures: the protocol's reference lot (planning only; the worksheet uses the real lot)."""
    from dosing.dose import prepare
    from dosing.units import parse_concentration

    protocol = get_protocol(dose.protocol_id)
    product = protocol.product
    if product.reference_concentration is None:
        return None
    return prepare(
        dose.ordered_dose,
        concentration=parse_concentration(product.reference_concentration, field="reference concentration"),
        viability=product.reference_viability,
        doses_viable_cells=product.doses_viable_cells,
        preparation=protocol.preparation,
        concentration_source="protocol reference lot (planning only; register the real lot)",
    )


def prep_row(
    dose: DoseToPrepare, lots: list[Lot], do_not_dispense_days: int, hold: StudyHold | None = None
) -> dict[str, Any]:
    """One line of the list: the worksheet's figures with the first-expiring usable lot, if any; a dose
    of a study on a safety hold (``hold``) is listed with the refusal."""
    from dosing.pharmacy.worksheet import worksheet_with_first_expiring_lot

    row: dict[str, Any] = {
        "planned_start": dose.planned_start.isoformat(),
        "site": dose.site,
        "protocol_id": dose.protocol_id,
        "subject_code": dose.subject_code,
        "sequence": dose.sequence,
        "label": dose.label,
        "ordered_dose": str(dose.ordered_dose),
        "lot": None,
        "latest_thaw": None,
        "refusal": None,
        # A total-over-period regimen: what the subject received of the total so far.
        "course": dose.course,
    }
    protocol = get_protocol(dose.protocol_id)
    product_lots = [lot for lot in lots if lot.product.casefold() == protocol.product.name.casefold()]
    figures: PreparationFigures | None
    try:
        if hold is not None:
            hold.refuse("dose", "preparing a dose")
        if product_lots:
            worksheet = worksheet_with_first_expiring_lot(
                protocol, dose, product_lots, do_not_dispense_days=do_not_dispense_days
            )
            figures = worksheet.preparation
            row["lot"] = worksheet.lot_identifier
            row["latest_thaw"] = worksheet.latest_thaw.isoformat() if worksheet.latest_thaw else None
        else:
            figures = reference_figures(dose)
    except DosingError as refusal:
        # A bag the pharmacy must not make is listed with the reason, never silently left out.
        row["refusal"] = str(refusal)
        return row
    if figures is not None:
        row.update(
            concentration=str(figures.concentration),
            concentration_source=figures.concentration_source,
            volume_to_draw=str(figures.volume_to_draw),
            diluent=str(figures.diluent),
            final_volume=str(figures.final_volume),
            delivered_dose=str(figures.delivered_dose),
            deviation=str(figures.deviation),
        )
    return row


@task(
    name="doses-to-prepare",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_database_error,
    persist_result=False,
    cache_policy=NO_CACHE,
)
def doses_to_prepare(
    database_url: str | None, site: str | None, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    from dosing.store.ledger.safety_hold import study_hold
    from dosing.store.lots import doses_due, get_pharmacy_settings, list_lots

    store = store_for(database_url)
    due = [dose for dose in doses_due(store, start, end, as_of=start) if site is None or dose.site == site]
    lots = [registered.lot for registered in list_lots(store)] if due else []
    days = get_pharmacy_settings().do_not_dispense_days
    holds = {
        protocol_id: study_hold(store, protocol_id) for protocol_id in {dose.protocol_id for dose in due}
    }
    return [prep_row(dose, lots, days, holds[dose.protocol_id]) for dose in due]


@flow(name="pharmacy-prep-list", persist_result=False, result_serializer=RESULT_SERIALIZER, log_prints=False)
def pharmacy_prep_list(
    hours: int = 24,
    as_of: datetime | None = None,
    site: str | None = None,
    out: str | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Doses due from ``as_of`` (default now) to ``hours`` later; also written as CSV to ``out``."""
    from dosing.app.authority import require
    from dosing.app.flow_actor import flow_context

    with data_free_failures():
        if site is not None:
            check_site(site)  # a deployment's parameters come from the server: checked here too
        require(flow_context(store_for(database_url), "pharmacy-prep-list"), "read_ledger")
        start = as_of or datetime.now(UTC)
        end = start + timedelta(hours=hours)
        doses = doses_to_prepare(database_url, site, start, end)
        report(f"prep list: {len(doses)} doses due from {start.isoformat()} to {end.isoformat()}")
        if out is not None:
            table = [[row.get(column) for column in COLUMNS] for row in doses]
            write_if_changed(Path(out), csv_text(COLUMNS, table).encode("utf-8"))
        return {"start": start.isoformat(), "end": end.isoformat(), "site": site, "doses": doses}
