"""Pure: Observation → ObservationRecord, reading every value form labs actually send.

Urine drug screens arrive as valueCodeableConcept (Detected / Not detected, POS / NEG),
valueString ("Positive"), valueQuantity against a cutoff, or only an interpretation; the CDC
CDS reads only strings and misses the rest (clinical-anchors.md 3.2), so all are kept here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

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
    return _with_value(
        resource,
        ref=f"Observation/{resource.get('id')}",
        patient=patient,
        codes=codes,
        effective=effective,
        status=status,
    )


def to_components(resource: FhirJson, panel: ObservationRecord) -> list[ObservationRecord]:
    """One record per coded component with a value, under the panel's reference and date.

    A PHQ-9 panel (LOINC 44249-1) may carry its total (44261-6) and items, item 9 (44260-8)
    among them, as `component` instead of as separate member Observations (US Core shows
    both forms); the rules read either. Components without a code or a value are left out.
    """
    found = []
    for component in resource.get("component") or ():
        if not isinstance(component, Mapping):
            continue
        codes = token_set(component.get("code"))
        if not codes:
            continue
        record = _with_value(
            component,
            ref=panel.ref,
            patient=panel.patient,
            codes=codes,
            effective=panel.effective,
            status=panel.status,
        )
        if record.value_number is not None or record.value_codes or record.value_text:
            found.append(record)
    return found


def _with_value(
    element: Mapping[str, object],
    *,
    ref: str,
    patient: str,
    codes: frozenset[str],
    effective: date,
    status: str,
) -> ObservationRecord:
    """The record with the value[x] and interpretation of a resource or one of its components."""
    value_concept = element.get("valueCodeableConcept")
    text = element.get("valueString")
    if not isinstance(text, str):
        text = concept_text(value_concept) or None
    interpretation: set[str] = set()
    concepts = element.get("interpretation")
    for concept in concepts if isinstance(concepts, list) else ():
        interpretation.update(token_set(concept))
    quantity = element.get("valueQuantity")
    value = quantity_value(quantity)
    unit = (quantity.get("code") or quantity.get("unit")) if isinstance(quantity, Mapping) else None
    if value is None:
        value = number(element.get("valueInteger"))
    return ObservationRecord(
        ref=ref,
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
