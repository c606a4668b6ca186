"""Pure: Observation → ObservationRecord, reading every value form labs actually send.

Urine drug screens arrive as valueCodeableConcept (Detected / Not detected, POS / NEG),
valueString ("Positive"), valueQuantity against a cutoff, or only an interpretation; the CDC
CDS reads only strings and misses the rest (clinical-anchors.md 3.2), so all are kept here.
"""

from __future__ import annotations

from collections.abc import Mapping

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.datatypes import (
    FhirJson,
    concept_text,
    number,
    parse_date,
    quantity_value,
    subject_ref,
    token_set,
)
from fhirbridge.records import ObservationRecord

# R4 observation-status values that carry no result.
_NO_RESULT = {"cancelled", "entered-in-error", "registered"}


def to_observation(resource: FhirJson, ctx: object = None) -> ObservationRecord:
    """Map one Observation (ctx unused: observations need no terminology lookups).

    Raises:
        NotApplicable: a status without a result.
        MappingError: no patient, no code, or no date.
    """
    status = str(resource.get("status") or "unknown")
    if status in _NO_RESULT:
        raise NotApplicable("status", status)
    patient = subject_ref(resource)
    if patient is None:
        raise MappingError("subject", "no Patient reference")
    codes = token_set(resource.get("code"))
    if not codes:
        raise MappingError("code", "no coded Observation.code")
    period = resource.get("effectivePeriod") or {}
    effective = (
        parse_date(resource.get("effectiveDateTime"))
        or parse_date(period.get("start"))
        or parse_date(resource.get("effectiveInstant"))
        or parse_date(resource.get("issued"))
    )
    if effective is None:
        raise MappingError("effective[x]", "no effective date or issued")
    value_concept = resource.get("valueCodeableConcept")
    text = resource.get("valueString")
    if not isinstance(text, str):
        text = concept_text(value_concept) or None
    interpretation: set[str] = set()
    for concept in resource.get("interpretation") or ():
        interpretation.update(token_set(concept))
    value = quantity_value(resource.get("valueQuantity"))
    quantity = resource.get("valueQuantity")
    unit = (quantity.get("code") or quantity.get("unit")) if isinstance(quantity, Mapping) else None
    if value is None:
        value = number(resource.get("valueInteger"))
    return ObservationRecord(
        ref=f"Observation/{resource.get('id')}",
        patient=patient,
        codes=codes,
        effective=effective,
        status=status,
        value_number=value,
        value_unit=unit if isinstance(unit, str) else None,
        value_codes=token_set(value_concept) if isinstance(value_concept, Mapping) else frozenset(),
        value_text=text,
        interpretation=frozenset(interpretation),
    )
