"""Constructed example data: pure builders of FHIR R4 resource dicts for one patient's chart.

Dates are given as day offsets from REFERENCE_DATE (0 = the as-of date, -30 = thirty days
before it); times carry a fixed UTC offset and stay between 08:00 and 16:00 local time, so the
calendar date is the same in local time and in UTC.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.examples.catalog import (
    DRUGS,
    EXAMPLE_ID_SYSTEM,
    NUCC,
    PHARMACIES,
    PRESCRIBERS,
    UCUM,
    Drug,
    Pharmacy,
    Prescriber,
)

Resource = dict[str, Any]

TZ = "-05:00"
LAST_UPDATED = f"{REFERENCE_DATE.isoformat()}T06:00:00{TZ}"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def day(offset: int) -> date:
    """The calendar date ``offset`` days from REFERENCE_DATE."""
    return REFERENCE_DATE + timedelta(days=offset)


def at(offset: int, hour: int, minute: int = 0) -> str:
    """A FHIR dateTime with timezone on day ``offset``."""
    return f"{day(offset).isoformat()}T{hour:02d}:{minute:02d}:00{TZ}"


def _meta() -> Resource:
    return {"lastUpdated": LAST_UPDATED}


def _ident(value: str) -> list[Resource]:
    return [{"system": EXAMPLE_ID_SYSTEM, "value": value}]


def _ref(reference: str) -> Resource:
    return {"reference": reference}


def medication_concept(drug: Drug) -> Resource:
    """CodeableConcept for a product: one coding (RxNorm ingredient or local) and product text."""
    coding = {"system": drug.system, "code": drug.code, "display": drug.display}
    return {"coding": [coding], "text": drug.text}


def units(value: int, drug: Drug) -> Resource:
    return {"value": value, "unit": drug.unit_text, "system": UCUM, "code": drug.unit}


def days(value: int) -> Resource:
    return {"value": value, "unit": "days", "system": UCUM, "code": "d"}


def dosage(drug: Drug) -> list[Resource]:
    instruction: Resource = {
        "sequence": 1,
        "text": drug.sig,
        "timing": {
            "repeat": {
                "frequency": drug.frequency,
                "period": drug.period,
                "periodUnit": drug.period_unit,
            }
        },
        "doseAndRate": [{"doseQuantity": units(drug.dose, drug)}],
    }
    if drug.as_needed:
        instruction["asNeededBoolean"] = True
    return [instruction]


def concept(system: str, code: str, display: str, text: str | None = None) -> Resource:
    result: Resource = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        result["text"] = text
    return result


# --------------------------------------------------------------------------- shared resources


def practitioner(p: Prescriber) -> Resource:
    name: Resource = {"use": "official", "family": p.family, "given": [p.given]}
    if p.prefix:
        name["prefix"] = [p.prefix]
    name["suffix"] = [p.suffix]
    return {
        "resourceType": "Practitioner",
        "id": f"ex-prac-{p.key}",
        "meta": _meta(),
        "identifier": _ident(f"ex-prac-{p.key}"),
        "active": True,
        "name": [name],
        "gender": p.gender,
    }


def practitioner_role(p: Prescriber) -> Resource:
    role_display = {"doctor": "Doctor", "nurse": "Nurse"}[p.role]
    return {
        "resourceType": "PractitionerRole",
        "id": f"ex-role-{p.key}",
        "meta": _meta(),
        "identifier": _ident(f"ex-role-{p.key}"),
        "active": True,
        "practitioner": {"reference": p.ref, "display": f"{p.given} {p.family}, {p.suffix}"},
        "code": [
            concept("http://terminology.hl7.org/CodeSystem/practitioner-role", p.role, role_display)
        ],
        "specialty": [concept(NUCC, p.taxonomy, p.taxonomy_display)],
    }


def pharmacy(p: Pharmacy) -> Resource:
    return {
        "resourceType": "Organization",
        "id": f"ex-org-{p.key}",
        "meta": _meta(),
        "identifier": _ident(f"ex-org-{p.key}"),
        "active": True,
        "type": [
            concept(
                "http://terminology.hl7.org/CodeSystem/organization-type",
                "prov",
                "Healthcare Provider",
                text="Community pharmacy",
            )
        ],
        "name": p.name,
        "address": [{"use": "work", "city": p.city, "country": "US"}],
    }


def medication(med_id: str, drug: Drug, form: str) -> Resource:
    """A Medication resource (for medicationReference); ``med_id`` "med" makes it contained."""
    resource: Resource = {
        "resourceType": "Medication",
        "id": med_id,
        "code": medication_concept(drug),
        "status": "active",
        "form": {"text": form},
    }
    if not med_id.startswith("ex-"):  # contained resources carry no meta
        return resource
    return {**resource, "meta": _meta(), "identifier": _ident(med_id)}


# --------------------------------------------------------------------------- one patient


class Chart:
    """Collects the resources of one constructed patient, with fixed, sequential ids."""

    def __init__(self, number: int, given: str, family: str, gender: str, birth: str) -> None:
        self.number = number
        self.pid = f"ex-pt-{number:02d}"
        self.ref = f"Patient/{self.pid}"
        self.resources: dict[str, list[Resource]] = defaultdict(list)
        self._seq: Counter[str] = Counter()
        self._add(
            {
                "resourceType": "Patient",
                "id": self.pid,
                "meta": _meta(),
                "identifier": _ident(self.pid),
                "active": True,
                "name": [{"use": "official", "family": family, "given": [given]}],
                "gender": gender,
                "birthDate": birth,
            }
        )

    def _add(self, resource: Resource) -> str:
        self.resources[resource["resourceType"]].append(resource)
        return f"{resource['resourceType']}/{resource['id']}"

    def _head(self, resource_type: str, prefix: str) -> Resource:
        """resourceType, the next sequential id (ex-<prefix>-<patient>-<n>), meta, identifier."""
        self._seq[prefix] += 1
        rid = f"ex-{prefix}-{self.number:02d}-{self._seq[prefix]}"
        return {
            "resourceType": resource_type,
            "id": rid,
            "meta": _meta(),
            "identifier": _ident(rid),
        }

    # ---- medications

    def order(
        self,
        drug: Drug,
        prescriber: str,
        offset: int,
        *,
        supply: int,
        refills: int | None = None,
        status: str = "active",
        status_reason: str | None = None,
        medication: Resource | None = None,
        contained: list[Resource] | None = None,
    ) -> str:
        """A MedicationRequest authored on day ``offset``; returns its reference."""
        doctor = PRESCRIBERS[prescriber]
        resource: Resource = {
            **self._head("MedicationRequest", "mr"),
            "status": status,
            "intent": "order",
            "category": [
                concept(
                    "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "community",
                    "Community",
                )
            ],
            "subject": _ref(self.ref),
            "authoredOn": at(offset, 9, 0),
            "requester": {
                "reference": doctor.ref,
                "display": f"{doctor.given} {doctor.family}, {doctor.suffix}",
            },
            "dosageInstruction": dosage(drug),
            "dispenseRequest": {
                "numberOfRepeatsAllowed": drug.max_refills if refills is None else refills,
                "quantity": units(self._quantity(drug, supply), drug),
                "expectedSupplyDuration": days(supply),
            },
        }
        if contained:
            resource["contained"] = contained
        resource.update(medication or {"medicationCodeableConcept": medication_concept(drug)})
        if status_reason:
            resource["statusReason"] = {"text": status_reason}
        return self._add(resource)

    def dispense(self, order_ref: str, drug: Drug, offset: int, pharmacy: str, supply: int) -> str:
        """A completed MedicationDispense handed over on day ``offset``."""
        hour = 10 + self.number % 6
        resource: Resource = {
            **self._head("MedicationDispense", "md"),
            "status": "completed",
            "medicationCodeableConcept": medication_concept(drug),
            "subject": _ref(self.ref),
            "performer": [
                {
                    "actor": {
                        "reference": PHARMACIES[pharmacy].ref,
                        "display": PHARMACIES[pharmacy].name,
                    }
                }
            ],
            "authorizingPrescription": [_ref(order_ref)],
            "quantity": units(self._quantity(drug, supply), drug),
            "daysSupply": days(supply),
            "whenPrepared": at(offset, hour - 1, 30),
            "whenHandedOver": at(offset, hour, 15),
            "dosageInstruction": dosage(drug),
        }
        return self._add(resource)

    @staticmethod
    def _quantity(drug: Drug, supply: int) -> int:
        if drug.as_needed:  # rescue naloxone: one carton of two devices
            return 2
        return drug.units_per_day * supply

    def course(
        self,
        drug_key: str,
        prescriber: str,
        pharmacy: str,
        fill_days: list[int],
        supply: int,
        *,
        final_status: str = "active",
        status_reason: str | None = None,
        refills: int | None = None,
        medication: Resource | None = None,
    ) -> list[str]:
        """Orders plus one dispense per fill day; returns the dispense references.

        Fills are grouped onto as few orders as the drug's schedule allows (a new order for
        every Schedule II fill; up to 5 refills for III-IV; up to 11 refills otherwise). Each
        order is authored on the day of its first fill; all but the last are ``completed``.
        """
        drug = DRUGS[drug_key]
        per_order = drug.max_refills + 1
        chunks = [fill_days[i : i + per_order] for i in range(0, len(fill_days), per_order)]
        dispenses: list[str] = []
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            order_ref = self.order(
                drug,
                prescriber,
                chunk[0],
                supply=supply,
                refills=refills,
                status=final_status if last else "completed",
                status_reason=status_reason if last else None,
                medication=medication if index == 0 else None,
            )
            dispenses += [self.dispense(order_ref, drug, d, pharmacy, supply) for d in chunk]
        return dispenses

    def rescue_naloxone(self, prescriber: str, pharmacy: str, offset: int) -> str:
        """An order for single-ingredient naloxone nasal spray and its dispense."""
        drug = DRUGS["naloxone"]
        order_ref = self.order(drug, prescriber, offset, supply=30, refills=1)
        return self.dispense(order_ref, drug, offset, pharmacy, 30)

    def statement(
        self,
        drug_key: str,
        offset: int,
        start_offset: int,
        *,
        based_on: str | None = None,
        note: str | None = None,
    ) -> str:
        """A patient-reported MedicationStatement (status active), asserted on day ``offset``."""
        drug = DRUGS[drug_key]
        resource: Resource = {
            **self._head("MedicationStatement", "ms"),
            "status": "active",
            "category": concept(
                "http://terminology.hl7.org/CodeSystem/medication-statement-category",
                "patientspecified",
                "Patient Specified",
            ),
            "medicationCodeableConcept": medication_concept(drug),
            "subject": _ref(self.ref),
            "effectivePeriod": {"start": day(start_offset).isoformat()},
            "dateAsserted": at(offset, 9, 20),
            "informationSource": _ref(self.ref),
            "dosage": [{"text": drug.sig}],
        }
        if based_on:
            resource["basedOn"] = [_ref(based_on)]
        if note:
            resource["note"] = [{"text": note}]
        return self._add(resource)

    # ---- encounters, conditions, observations

    def encounter(self, offset: int, prescriber: str, text: str = "Office visit") -> str:
        doctor = PRESCRIBERS[prescriber]
        return self._add(
            {
                **self._head("Encounter", "enc"),
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "type": [{"text": text}],
                "subject": _ref(self.ref),
                "participant": [{"individual": {"reference": doctor.ref}}],
                "period": {"start": at(offset, 8, 30), "end": at(offset, 9, 0)},
            }
        )

    def condition(
        self, code: str, display: str, offset: int, encounter: str, *, abated: int | None = None
    ) -> str:
        """A problem-list Condition coded in ICD-10-CM, recorded on day ``offset``."""
        status = "resolved" if abated is not None else "active"
        resource: Resource = {
            **self._head("Condition", "cond"),
            "clinicalStatus": concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                status,
                status.capitalize(),
            ),
            "verificationStatus": concept(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "confirmed",
                "Confirmed",
            ),
            "category": [
                concept(
                    "http://terminology.hl7.org/CodeSystem/condition-category",
                    "problem-list-item",
                    "Problem List Item",
                )
            ],
            "code": concept(ICD10CM, code, display, text=display),
            "subject": _ref(self.ref),
            "encounter": _ref(encounter),
            "onsetDateTime": at(offset, 8, 45),
            "recordedDate": at(offset, 8, 50),
        }
        if abated is not None:
            resource["abatementDateTime"] = at(abated, 9, 0)
        return self._add(resource)

    def observation(
        self,
        offset: int,
        category: str,
        code: Resource,
        value: Resource,
        *,
        encounter: str,
        hour: int = 9,
        minute: int = 10,
    ) -> str:
        """A final Observation; ``value`` is e.g. {"valueQuantity": {...}}."""
        category_display = {
            "laboratory": "Laboratory",
            "survey": "Survey",
            "procedure": "Procedure",
        }[category]
        resource: Resource = {
            **self._head("Observation", "obs"),
            "status": "final",
            "category": [concept(OBS_CATEGORY, category, category_display)],
            "code": code,
            "subject": _ref(self.ref),
            "encounter": _ref(encounter),
            "effectiveDateTime": at(offset, hour, minute),
            "issued": at(offset, min(hour + 3, 16), minute),
            **value,
        }
        return self._add(resource)

    def broken_order(self, prescriber: str, offset: int) -> str:
        """The one deliberately unusable resource: a MedicationRequest with no medication[x]."""
        doctor = PRESCRIBERS[prescriber]
        return self._add(
            {
                **self._head("MedicationRequest", "mr"),
                "status": "active",
                "intent": "order",
                "subject": _ref(self.ref),
                "authoredOn": at(offset, 9, 0),
                "requester": _ref(doctor.ref),
                "dosageInstruction": [{"text": "Take as directed"}],
                "note": [
                    {
                        "text": "Medication lost in an interface error (constructed "
                        "dead-letter example: this order has no medication[x])."
                    }
                ],
            }
        )


# --------------------------------------------------------------------------- observation codes

PHQ9_TOTAL = concept(
    LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"
)
PHQ9_ITEM9 = concept(
    LOINC,
    "44260-8",
    "Thoughts that you would be better off dead, or of hurting yourself in some "
    "way in last 2 weeks [Reported.PHQ]",
)
QTC = concept(LOINC, "8636-3", "Q-T interval corrected")
UDS = {
    "buprenorphine": concept(
        LOINC, "93494-3", "Buprenorphine [Presence] in Urine by Screen method"
    ),
    "norbuprenorphine": concept(
        LOINC, "82371-6", "Norbuprenorphine [Presence] in Urine by Screen method"
    ),
    "fentanyl": concept(LOINC, "59673-4", "fentaNYL [Presence] in Urine by Screen method"),
}
DETECTED = {"valueCodeableConcept": concept(SNOMED, "260373001", "Detected")}
NOT_DETECTED = {"valueCodeableConcept": concept(SNOMED, "260415000", "Not detected")}


def score(value: int) -> Resource:
    return {"valueQuantity": {"value": value, "unit": "{score}", "system": UCUM, "code": "{score}"}}


def millis(value: int) -> Resource:
    return {"valueQuantity": {"value": value, "unit": "ms", "system": UCUM, "code": "ms"}}
