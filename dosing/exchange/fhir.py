"""A subject's planned and given doses as a FHIR Bundle, for an EHR (e.g. OpenMRS) to take in.

Per subject: a Patient known only by its study code (never a name or a date of birth), the
ResearchStudy and the ResearchSubject (assigned arm), a CarePlan, a MedicationRequest per planned dose
(the ordered amount, the planned time and the window as the timing's bounds) and a
MedicationAdministration per outcome: completed with the delivered amount, lot and performer, or
not-done with its reason (skipped, or missed when the window closed with nothing recorded).

fhir.resources 8 ships R5 and R4B models, not R4 (4.0.1). R4B (4.3.0) keeps R4's MedicationRequest,
MedicationAdministration, ResearchSubject, CarePlan and Patient unchanged, so the Bundles are built and
validated with the R4B models; every resource is validated on its own and the Bundle as a whole.
Ids are UUIDs derived from the study, subject and dose, so a re-export names the same resources.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dosing.exchange.free_text import export_text
from dosing.exchange.sdtm import administered, treatment
from dosing.exchange.sdtm import quantity as dose_quantity
from dosing.exchange.terminology import route_term
from dosing.protocol import Protocol, StudyStatus
from dosing.status import DoseState
from dosing.units import Amount, Volume

if TYPE_CHECKING:
    from dosing.store.models import DoseView, GivenView, SubjectView

FHIR_VERSION = "4.3.0"
UCUM = "http://unitsofmeasure.org"
NCI_THESAURUS = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
SUBJECT_SYSTEM = "urn:cell-dosing:subject"
STUDY_SYSTEM = "urn:cell-dosing:study"
ACCOUNT_SYSTEM = "urn:cell-dosing:account"

_NOT_GIVEN = {DoseState.SKIPPED, DoseState.MISSED}
_GIVEN = {DoseState.GIVEN_ON_TIME, DoseState.GIVEN_LATE, DoseState.GIVEN_EARLY, DoseState.PARTIAL}
_STUDY_STATUS = {
    StudyStatus.NOT_YET_RECRUITING: "approved",
    StudyStatus.RECRUITING: "active",
    StudyStatus.ENROLLING_BY_INVITATION: "active",
    StudyStatus.ACTIVE_NOT_RECRUITING: "closed-to-accrual",
    StudyStatus.SUSPENDED: "temporarily-closed-to-accrual",
    StudyStatus.TERMINATED: "administratively-completed",
    StudyStatus.COMPLETED: "completed",
    StudyStatus.WITHDRAWN: "withdrawn",
    StudyStatus.UNKNOWN: "active",
}


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cell-dosing/" + "/".join(str(p) for p in parts)))


def _url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def _quantity_json(quantity: Amount | Volume) -> dict[str, Any]:
    code = quantity.unit.value if isinstance(quantity, Amount) else quantity.unit
    unit = quantity.unit.noun if isinstance(quantity, Amount) else quantity.unit
    return {"value": quantity.value, "unit": unit, "system": UCUM, "code": code}


def _route(code: str, description: str | None = None) -> dict[str, Any]:
    term = route_term(code)
    coding = {"system": NCI_THESAURUS, "code": term.c_code, "display": term.submission_value}
    return {"coding": [coding], "text": description or term.submission_value}


def _validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource after its fhir.resources model accepted it (raises on an invalid resource)."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    result: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result


class _SubjectBundle:
    def __init__(self, view: SubjectView, protocol: Protocol, warnings: list[str]) -> None:
        self.view = view
        self.protocol = protocol
        self.warnings = warnings
        self.key = (view.protocol_id, view.subject_code)
        self.patient_id = _uuid(*self.key, "patient")
        self.study_id = _uuid(view.protocol_id, "study")
        self.care_plan_id = _uuid(*self.key, "careplan")
        self.doses = [dose for dose in view.doses if administered(dose)]
        self.reasons: dict[int, str] = {}

    def local(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.view.timezone)).isoformat()

    def patient(self) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "id": self.patient_id,
            "identifier": [
                {"system": f"{SUBJECT_SYSTEM}:{self.view.protocol_id}", "value": self.view.subject_code}
            ],
        }

    def study(self) -> dict[str, Any]:
        identifiers = [{"system": STUDY_SYSTEM, "value": self.protocol.id}]
        if self.protocol.registry_id:
            identifiers.append({"system": "https://clinicaltrials.gov", "value": self.protocol.registry_id})
        return {
            "resourceType": "ResearchStudy",
            "id": self.study_id,
            "identifier": identifiers,
            "title": self.protocol.title,
            "status": _STUDY_STATUS[self.protocol.status],
            "arm": [{"name": arm.id, "description": arm.label} for arm in self.protocol.arms],
        }

    def research_subject(self) -> dict[str, Any]:
        open_doses = any(dose.status.state not in _GIVEN | _NOT_GIVEN for dose in self.doses)
        return {
            "resourceType": "ResearchSubject",
            "id": _uuid(*self.key, "researchsubject"),
            "identifier": [
                {"system": f"{SUBJECT_SYSTEM}:{self.view.protocol_id}", "value": self.view.subject_code}
            ],
            "status": "on-study-intervention" if open_doses else "follow-up",
            "period": {"start": self.local(self.view.enrolled_at)},
            "study": {"reference": _url(self.study_id)},
            "individual": {"reference": _url(self.patient_id)},
            "assignedArm": self.view.arm,
        }

    def request_id(self, dose: DoseView) -> str:
        return _uuid(*self.key, "medicationrequest", dose.sequence)

    def medication_request(self, dose: DoseView) -> dict[str, Any]:
        ordered = dose_quantity(dose, None)
        state = dose.status.state
        status = "completed" if state in _GIVEN else "cancelled" if state in _NOT_GIVEN else "active"
        dosage: dict[str, Any] = {
            "sequence": dose.sequence,
            "text": dose.label,
            "timing": {
                "event": [self.local(dose.planned_start)],
                # The window: the dose may be given on any day from earliest to latest (local days).
                "repeat": {
                    "boundsPeriod": {"start": dose.earliest.isoformat(), "end": dose.latest.isoformat()}
                },
            },
            "route": _route(self.protocol.route.code, self.protocol.route.description),
        }
        if ordered is not None:
            dosage["doseAndRate"] = [{"doseQuantity": _quantity_json(ordered)}]
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.request_id(dose),
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": {"text": treatment(dose, self.protocol)},
            "subject": {"reference": _url(self.patient_id)},
            "basedOn": [{"reference": _url(self.care_plan_id)}],
            "dosageInstruction": [dosage],
        }
        if state in _NOT_GIVEN:
            request["statusReason"] = {"text": self.not_given_reason(dose)}
        return request

    def not_given_reason(self, dose: DoseView) -> str:
        # The request and the administration both carry it: checked (and warned about) once.
        if dose.sequence not in self.reasons:
            self.reasons[dose.sequence] = self._reason(dose)
        return self.reasons[dose.sequence]

    def _reason(self, dose: DoseView) -> str:
        where = f"FHIR {self.view.subject_code} dose {dose.sequence} statusReason"
        if dose.status.state is DoseState.MISSED:
            return f"Missed: window closed {dose.latest.isoformat()} with no dose recorded"
        return export_text(dose.status.reason or "Skipped", where, self.warnings) or "Skipped"

    def administration(self, dose: DoseView) -> dict[str, Any] | None:
        common: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "id": _uuid(*self.key, "medicationadministration", dose.sequence),
            "subject": {"reference": _url(self.patient_id)},
            "request": {"reference": _url(self.request_id(dose))},
        }
        given = dose.given
        if given is not None:
            return {**common, **self.completed(dose, given)}
        if dose.status.state in _NOT_GIVEN:
            return {
                **common,
                "status": "not-done",
                "statusReason": [{"text": self.not_given_reason(dose)}],
                "medicationCodeableConcept": {"text": treatment(dose, self.protocol)},
                # Not given: the outcome belongs to the planned time.
                "effectiveDateTime": self.local(dose.planned_start),
            }
        return None

    def completed(self, dose: DoseView, given: GivenView) -> dict[str, Any]:
        effective: dict[str, Any] = (
            {"effectivePeriod": {"start": self.local(given.started_at), "end": self.local(given.ended_at)}}
            if given.ended_at is not None
            else {"effectiveDateTime": self.local(given.started_at)}
        )
        dosage: dict[str, Any] = {"route": _route(given.route or self.protocol.route.code)}
        delivered = dose_quantity(dose, given)
        if delivered is not None:
            dosage["dose"] = _quantity_json(delivered)
        if given.partial:
            dosage["text"] = "Partial dose" + (
                f": {given.infusion_reaction}" if given.infusion_reaction else ""
            )
        medication: dict[str, Any] = {"medicationCodeableConcept": {"text": treatment(dose, self.protocol)}}
        contained: list[dict[str, Any]] = []
        lot = given.lot or given.din
        if lot is not None:
            # The lot belongs to the Medication, held inside the administration that used it.
            contained = [
                {
                    "resourceType": "Medication",
                    "id": "lot",
                    "code": {"text": treatment(dose, self.protocol)},
                    "batch": {"lotNumber": lot},
                }
            ]
            medication = {"medicationReference": {"reference": "#lot"}}
        performer = given.given_by or given.recorded_by
        result: dict[str, Any] = {
            "status": "completed",
            **medication,
            **effective,
            "performer": [
                {
                    "actor": {
                        "type": "Practitioner",
                        "identifier": {"system": ACCOUNT_SYSTEM, "value": performer},
                    }
                }
            ],
            "dosage": dosage,
        }
        if contained:
            result["contained"] = contained
        return result

    def care_plan(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        pending = any(request["status"] == "active" for request in requests)
        plan: dict[str, Any] = {
            "resourceType": "CarePlan",
            "id": self.care_plan_id,
            "status": "active" if pending else "completed",
            "intent": "plan",
            "title": f"{self.protocol.id} dosing plan ({self.view.arm})",
            "subject": {"reference": _url(self.patient_id)},
            "activity": [{"reference": {"reference": _url(request["id"])}} for request in requests],
        }
        if self.doses:
            plan["period"] = {
                "start": min(d.earliest for d in self.doses).isoformat(),
                "end": max(d.latest for d in self.doses).isoformat(),
            }
        return plan

    def resources(self) -> list[dict[str, Any]]:
        requests = [self.medication_request(dose) for dose in self.doses]
        administrations = [a for a in (self.administration(dose) for dose in self.doses) if a is not None]
        found = [self.patient(), self.study(), self.research_subject(), self.care_plan(requests)]
        return [_validated(resource) for resource in [*found, *requests, *administrations]]


def subject_bundle(view: SubjectView, protocol: Protocol, as_of: datetime, warnings: list[str]) -> str:
    """The subject's Bundle (type collection) as JSON text, validated as a whole."""
    from fhir.resources.R4B.bundle import Bundle

    resources = _SubjectBundle(view, protocol, warnings).resources()
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": _uuid(view.protocol_id, view.subject_code, "bundle"),
            "meta": {"lastUpdated": as_of.isoformat()},
            "type": "collection",
            "timestamp": as_of.isoformat(),
            "entry": [{"fullUrl": _url(resource["id"]), "resource": resource} for resource in resources],
        }
    )
    text: str = bundle.model_dump_json(by_alias=True, exclude_none=True, indent=1)
    return text
