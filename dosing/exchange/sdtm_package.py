"""One study's SDTM package from the dose ledger: DM, EC, EX, SV and the trial design (TS TA TE TV).

Pure: a protocol and its subjects' views in, datasets and warnings out. The rules a data manager
checks, kept here in one place:

- Study days count from DM.RFSTDTC (the first dose given; for a subject not dosed yet, the enrolment),
  with no day 0.
- EC has one SCHEDULED record per planned dose and one PERFORMED record per outcome; every record is
  pre-specified (ECPRESP "Y"), and only PERFORMED records say whether the dose occurred (ECOCCUR Y/N),
  with the reason in ECREASOC when it did not (CORE-000015/16).
- EX holds the doses given, EXDOSE being what was delivered; a partial dose says why in EXADJ.
- VISITNUM is the planned administration's number, VISIT its protocol label, EPOCH the trial design's
  epoch: the same in TV, SV, EC and EX.
- Units, routes and dose forms are CDISC terms (:mod:`dosing.exchange.terminology`), never passed through.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dosing.exchange.datasets import Dataset, Value, dataset
from dosing.exchange.free_text import export_text
from dosing.exchange.sdtm import administered, dosage_form, study_day, treatment, usubjid
from dosing.exchange.sdtm import quantity as dose_quantity
from dosing.exchange.terminology import (
    CT_VERSION,
    DOSE_FORMS,
    country_code,
    route_term,
    unit_term,
)
from dosing.protocol import Arm, Protocol
from dosing.status import DoseState
from dosing.units import Amount, Volume

if TYPE_CHECKING:
    from dosing.store.models import DoseView, GivenView, SubjectView

TREATMENT = "TREATMENT"
FOLLOW_UP = "FOLLOW-UP"
_NOT_GIVEN = {DoseState.SKIPPED, DoseState.MISSED}


def _iso(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).isoformat()


def _day(iso: str | None, reference: str | None) -> int | None:
    if iso is None or reference is None:
        return None
    return study_day(datetime.fromisoformat(iso).date(), datetime.fromisoformat(reference).date())


def armcd(arm_id: str) -> str:
    return arm_id.upper().replace("-", "_")[:20]


def visit_name(dose: DoseView) -> str:
    return dose.label.upper()


def _amount(quantity: Amount | Volume | None) -> tuple[float | None, str | None]:
    """EC/EX dose and unit: a float for the transport file, the unit as its CDISC term."""
    if quantity is None:
        return None, None
    unit = quantity.unit.value if isinstance(quantity, Amount) else quantity.unit
    # The decimals the ledger holds (<= 15 significant digits) round-trip through a double exactly.
    return float(quantity.value), unit_term(unit).submission_value


def _dose_form(quantity: Amount | Volume | None, protocol: Protocol) -> str:
    return DOSE_FORMS[dosage_form(quantity, protocol)].submission_value


class _Subject:
    """One subject's rows, with the reference dates every study day counts from."""

    def __init__(self, view: SubjectView, protocol: Protocol, warnings: list[str]) -> None:
        self.view = view
        self.protocol = protocol
        self.warnings = warnings
        self.doses = [dose for dose in view.doses if administered(dose)]
        given = [dose.given for dose in self.doses if dose.given is not None]
        zone = view.timezone
        self.first_given = _iso(min(g.started_at for g in given), zone) if given else None
        self.last_given = _iso(max((g.ended_at or g.started_at) for g in given), zone) if given else None
        # RFSTDTC: first exposure; a subject not dosed (yet, or a control arm with nothing to give)
        # counts from the enrolment so that planned doses still have study days.
        self.reference = self.first_given or _iso(view.enrolled_at, zone)
        self.usubjid = usubjid(view)

    def where(self, domain: str, dose: DoseView, variable: str) -> str:
        return f"{domain} {self.usubjid} dose {dose.sequence} {variable}"

    def dm(self) -> dict[str, Value]:
        arm = self.protocol.arm(self.view.arm)
        site = self.protocol.site(self.view.site)
        treated = self.first_given is not None or not arm.receives_administrations
        return {
            "STUDYID": self.view.protocol_id,
            "DOMAIN": "DM",
            "USUBJID": self.usubjid,
            "SUBJID": self.view.subject_code,
            "RFSTDTC": self.reference,
            "RFENDTC": self.last_given,
            "RFXSTDTC": self.first_given,
            "RFXENDTC": self.last_given,
            "SITEID": self.view.site,
            # The dosing engine does not collect sex; U (unknown) until merged with the EDC's DM.
            "SEX": "U",
            "ARMCD": armcd(arm.id),
            "ARM": arm.label,
            "ACTARMCD": armcd(arm.id) if treated else None,
            "ACTARM": arm.label if treated else None,
            "ARMNRS": None if treated else "ASSIGNED, NOT TREATED",
            "COUNTRY": country_code(site.country),
        }

    def _timing(self, dose: DoseView, start: str, end: str | None, prefix: str) -> dict[str, Value]:
        return {
            "VISITNUM": dose.sequence,
            "VISIT": visit_name(dose),
            "EPOCH": TREATMENT,
            f"{prefix}STDTC": start,
            f"{prefix}ENDTC": end,
            f"{prefix}STDY": _day(start, self.reference),
            f"{prefix}ENDY": _day(end, self.reference),
        }

    def adjustment(self, dose: DoseView, given: GivenView, domain: str) -> str | None:
        """Why a partial dose was partial, from what the nurse recorded; never a bare "PARTIAL"."""
        if not given.partial:
            return None
        if given.infusion_reaction:
            reason = f"Partial dose: infusion reaction ({given.infusion_reaction})"
        elif given.notes:
            reason = f"Partial dose: {given.notes}"
        else:
            self.warnings.append(
                f"{self.where(domain, dose, domain + 'ADJ')}: partial dose recorded without a reason "
                "(no infusion reaction or notes); correct the record"
            )
            reason = "Partial dose: reason not recorded"
        return export_text(reason, self.where(domain, dose, domain + "ADJ"), self.warnings)

    def delivered(self, dose: DoseView, given: GivenView, domain: str) -> tuple[float | None, str | None]:
        quantity = dose_quantity(dose, given)
        if quantity is None:
            self.warnings.append(
                f"{self.where(domain, dose, domain + 'DOSE')}: dose given without a recorded amount; "
                "exported without a dose"
            )
        return _amount(quantity)

    def route(self, given: GivenView | None) -> str:
        recorded = given.route if given is not None and given.route else self.protocol.route.code
        return route_term(recorded).submission_value

    def ec(self) -> list[dict[str, Value]]:
        rows: list[dict[str, Value]] = []
        for dose in self.doses:
            planned = dose_quantity(dose, None)
            planned_dose, planned_unit = _amount(planned)
            planned_start = _iso(dose.planned_start, self.view.timezone)
            common: dict[str, Value] = {
                "STUDYID": self.view.protocol_id,
                "DOMAIN": "EC",
                "USUBJID": self.usubjid,
                "ECLNKID": str(dose.sequence),
                "ECTRT": treatment(dose, self.protocol),
                "ECPRESP": "Y",
            }
            rows.append(
                {
                    **common,
                    "ECMOOD": "SCHEDULED",
                    "ECOCCUR": None,
                    "ECREASOC": None,
                    "ECDOSE": planned_dose,
                    "ECDOSU": planned_unit,
                    "ECDOSFRM": _dose_form(planned, self.protocol),
                    "ECROUTE": self.route(None),
                    "ECLOT": None,
                    "ECADJ": None,
                    **self._timing(dose, planned_start, None, "EC"),
                }
            )
            given = dose.given
            if given is not None:
                amount, unit = self.delivered(dose, given, "EC")
                start = _iso(given.started_at, self.view.timezone)
                end = _iso(given.ended_at, self.view.timezone) if given.ended_at else None
                rows.append(
                    {
                        **common,
                        "ECMOOD": "PERFORMED",
                        "ECOCCUR": "Y",
                        "ECREASOC": None,
                        "ECDOSE": amount,
                        "ECDOSU": unit,
                        "ECDOSFRM": _dose_form(dose_quantity(dose, given), self.protocol),
                        "ECROUTE": self.route(given),
                        "ECLOT": given.lot or given.din,
                        "ECADJ": self.adjustment(dose, given, "EC"),
                        **self._timing(dose, start, end, "EC"),
                    }
                )
            elif dose.status.state in _NOT_GIVEN:
                rows.append(
                    {
                        **common,
                        "ECMOOD": "PERFORMED",
                        "ECOCCUR": "N",
                        "ECREASOC": self.not_given_reason(dose),
                        "ECDOSE": None,
                        "ECDOSU": None,
                        "ECDOSFRM": _dose_form(planned, self.protocol),
                        "ECROUTE": self.route(None),
                        "ECLOT": None,
                        "ECADJ": None,
                        # Not given: the outcome belongs to the planned date.
                        **self._timing(dose, planned_start, None, "EC"),
                    }
                )
        return [{**row, "ECSEQ": index} for index, row in enumerate(rows, start=1)]

    def not_given_reason(self, dose: DoseView) -> str | None:
        where = self.where("EC", dose, "ECREASOC")
        if dose.status.state is DoseState.MISSED:
            # The project's wording, not typed text: not checked for identities.
            return export_text(f"MISSED: window closed {dose.latest.isoformat()}", where, [], typed=False)
        return export_text(dose.status.reason or "SKIPPED", where, self.warnings)

    def ex(self) -> list[dict[str, Value]]:
        rows: list[dict[str, Value]] = []
        for dose in self.doses:
            given = dose.given
            if given is None:
                continue
            amount, unit = self.delivered(dose, given, "EX")
            start = _iso(given.started_at, self.view.timezone)
            end = _iso(given.ended_at, self.view.timezone) if given.ended_at else None
            rows.append(
                {
                    "STUDYID": self.view.protocol_id,
                    "DOMAIN": "EX",
                    "USUBJID": self.usubjid,
                    "EXSEQ": len(rows) + 1,
                    "EXLNKID": str(dose.sequence),
                    "EXTRT": treatment(dose, self.protocol),
                    "EXDOSE": amount,
                    "EXDOSU": unit,
                    "EXDOSFRM": _dose_form(dose_quantity(dose, given), self.protocol),
                    "EXROUTE": self.route(given),
                    "EXLOT": given.lot or given.din,
                    "EXADJ": self.adjustment(dose, given, "EX"),
                    **self._timing(dose, start, end, "EX"),
                }
            )
        return rows

    def sv(self) -> list[dict[str, Value]]:
        """The visits that happened: a dose given (a dose not given may have had no visit at all)."""
        rows: list[dict[str, Value]] = []
        for dose in self.doses:
            if dose.given is None:
                continue
            start = _iso(dose.given.started_at, self.view.timezone)
            end = _iso(dose.given.ended_at, self.view.timezone) if dose.given.ended_at else start
            rows.append(
                {
                    "STUDYID": self.view.protocol_id,
                    "DOMAIN": "SV",
                    "USUBJID": self.usubjid,
                    "VISITNUM": dose.sequence,
                    "VISIT": visit_name(dose),
                    "EPOCH": TREATMENT,
                    "SVSTDTC": start,
                    "SVENDTC": end,
                    "SVSTDY": _day(start, self.reference),
                    "SVENDY": _day(end, self.reference),
                }
            )
        return rows


def _element_code(index: int) -> str:
    return f"TRT{index:02d}"


def _element(arm: Arm) -> str:
    if arm.receives_administrations:
        return f"Treatment: {arm.label}"[:200]
    return f"No study treatment: {arm.label}"[:200]


def trial_arms(protocol: Protocol) -> list[dict[str, Value]]:
    rows: list[dict[str, Value]] = []
    for index, arm in enumerate(protocol.arms, start=1):
        for order, (etcd, element, epoch) in enumerate(
            [(_element_code(index), _element(arm), TREATMENT), ("FU", "Follow-up", FOLLOW_UP)], start=1
        ):
            rows.append(
                {
                    "STUDYID": protocol.id,
                    "DOMAIN": "TA",
                    "ARMCD": armcd(arm.id),
                    "ARM": arm.label,
                    "TAETORD": order,
                    "ETCD": etcd,
                    "ELEMENT": element,
                    "EPOCH": epoch,
                }
            )
    return rows


def trial_elements(protocol: Protocol) -> list[dict[str, Value]]:
    rows: list[dict[str, Value]] = []
    last = protocol.administrations[-1].label
    for index, arm in enumerate(protocol.arms, start=1):
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "TE",
                "ETCD": _element_code(index),
                "ELEMENT": _element(arm),
                "TESTRL": f"{protocol.anchor.event.value.capitalize()} (protocol anchor)",
                "TEENRL": f"End of the window of {last}",
            }
        )
    rows.append(
        {
            "STUDYID": protocol.id,
            "DOMAIN": "TE",
            "ETCD": "FU",
            "ELEMENT": "Follow-up",
            "TESTRL": f"End of the window of {last}",
            "TEENRL": "End of the subject's follow-up",
        }
    )
    return rows


def trial_visits(protocol: Protocol) -> list[dict[str, Value]]:
    numbering = protocol.anchor.day_numbering.value.replace("_", " ")
    anchor = protocol.anchor.event.value
    rows: list[dict[str, Value]] = []
    for sequence, spec in enumerate(protocol.administrations, start=1):
        offset = f"day {spec.day}" if spec.day is not None else f"week {spec.week}"
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "TV",
                "VISITNUM": sequence,
                "VISIT": spec.label.upper(),
                "ARMCD": None,
                "TVSTRL": f"Window of {spec.label}: {offset} ({numbering}) of the {anchor}",
                "TVENRL": "End of the administration",
            }
        )
    return rows


def trial_summary(protocol: Protocol, warnings: list[str]) -> list[dict[str, Value]]:
    route = route_term(protocol.route.code)
    unit = unit_term(protocol.product.kind.amount_unit.value)
    values: list[tuple[str, str, str, str | None, str | None, str | None]] = [
        ("TITLE", "Trial Title", protocol.title, None, None, None),
    ]
    if protocol.registry_id is not None:
        registry = protocol.registry_id
        values.append(("REGID", "Registry Identifier", registry, registry, "ClinicalTrials.gov", None))
    values += [
        ("TRT", "Investigational Therapy or Treatment", protocol.product.name, None, None, None),
        ("ROUTE", "Route of Administration", route.submission_value, route.c_code, "CDISC CT", CT_VERSION),
        ("DOSU", "Dose Units", unit.submission_value, unit.c_code, "CDISC CT" if unit.c_code else None,
         CT_VERSION if unit.c_code else None),
        ("NARMS", "Planned Number of Arms", str(len(protocol.arms)), None, None, None),
    ]  # fmt: skip
    return [
        {
            "STUDYID": protocol.id,
            "DOMAIN": "TS",
            "TSSEQ": 1,
            "TSPARMCD": code,
            "TSPARM": name,
            "TSVAL": export_text(value, f"TS {code} TSVAL", warnings, typed=False),
            "TSVALCD": value_code,
            "TSVCDREF": reference,
            "TSVCDVER": version,
        }
        for code, name, value, value_code, reference, version in values
    ]


def build_package(protocol: Protocol, views: list[SubjectView], warnings: list[str]) -> list[Dataset]:
    """Every dataset of one study, in define.xml's order; ``warnings`` gets what a data manager must see."""
    subjects = [_Subject(view, protocol, warnings) for view in views if view.protocol_id == protocol.id]
    return [
        dataset("TA", trial_arms(protocol)),
        dataset("TE", trial_elements(protocol)),
        dataset("TV", trial_visits(protocol)),
        dataset("TS", trial_summary(protocol, warnings)),
        dataset("DM", [subject.dm() for subject in subjects]),
        dataset("SV", [row for subject in subjects for row in subject.sv()]),
        dataset("EC", [row for subject in subjects for row in subject.ec()]),
        dataset("EX", [row for subject in subjects for row in subject.ex()]),
    ]
