"""Pure: Encounter → InpatientStay, for the inpatient censoring of PDC (PQA via CMS Star).

Only inpatient encounters matter to adherence: CMS censors inpatient days from the PDC period
because the hospital supplies the drug (clinical-anchors.md 1.1). An encounter is inpatient when
its class is v3 ActCode IMP "inpatient encounter" or one of its two specialisations, ACUTE
"inpatient acute" and NONAC "inpatient non-acute" (the v3 ActInpatientEncounterCode value set:
hl7.org/fhir R5 core `ValueSet/v3-ActInpatientEncounterCode`, also listed by HL7 Europe's
Hospital Discharge Report IG). Every other class (AMB, EMER, OBSENC, SS, ...) is a counted skip
with the class as reason, never an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.datatypes import FhirJson, codings, parse_date, subject_ref
from fhirbridge.records import InpatientStay

# R4 binds Encounter.class to v3 ActCode; "http://hl7.org/fhir/v3/ActCode" is the STU3 URI that
# some servers still send (terminology.hl7.org replaced it in R4).
ACTCODE = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "http://hl7.org/fhir/v3/ActCode")
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})
# R4 encounter-status values that never were a stay (planned, cancelled, entered-in-error).
_NOT_STAYS = {"planned", "cancelled", "entered-in-error"}
# A stay still under way has no discharge day yet; it is censored through as_of.
_UNDER_WAY = {"arrived", "triaged", "in-progress", "onleave"}


def to_inpatient_stay(resource: FhirJson, ctx: object = None) -> InpatientStay:
    """Map one Encounter (ctx unused: encounters need no terminology lookups).

    Raises:
        NotApplicable: not an inpatient class, a status that never was a stay, or a finished
            stay without a discharge day (its length is unknown, so it cannot be censored).
        MappingError: no patient, no admission day, or a discharge before the admission.
    """
    status = str(resource.get("status") or "unknown")
    if status in _NOT_STAYS:
        raise NotApplicable("status", status)
    classes = sorted(
        str(c["code"])
        for c in _class_codings(resource.get("class"))
        if c.get("system") in ACTCODE and isinstance(c.get("code"), str)
    )
    if not INPATIENT_CLASSES.intersection(classes):
        raise NotApplicable("class", classes[0] if classes else "none")
    patient = subject_ref(resource)
    if patient is None:
        raise MappingError("subject", "no Patient reference")
    period = resource.get("period") or {}
    start = parse_date(period.get("start")) if isinstance(period, Mapping) else None
    if start is None:
        raise MappingError("period.start", "no admission date")
    end = parse_date(period.get("end"))
    if end is None and status not in _UNDER_WAY:
        raise NotApplicable("period.end", f"no discharge date on a {status} stay")
    if end is not None and end < start:
        raise MappingError("period.end", "discharge before admission")
    return InpatientStay(
        ref=f"Encounter/{resource.get('id')}", patient=patient, start=start, end=end
    )


def _class_codings(value: Any) -> Iterator[FhirJson]:
    """R4 Encounter.class is one Coding; R5 made it a list of CodeableConcepts: read both."""
    if isinstance(value, Mapping):
        yield value
    elif isinstance(value, list):
        for concept in value:
            yield from codings(concept)
