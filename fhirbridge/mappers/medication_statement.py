"""Pure: MedicationStatement → MedicationEvent (kind STATEMENT): reported use, not supply."""

from __future__ import annotations

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.datatypes import FhirJson, parse_date, relative_reference, subject_ref
from fhirbridge.mappers.medication import MappingContext, medication_of
from fhirbridge.records import EventKind, MedicationEvent

# R4 medication-statement-status values that assert nothing about use.
_IGNORED = {"entered-in-error", "not-taken"}


def to_statement(resource: FhirJson, ctx: MappingContext) -> MedicationEvent:
    """Map one MedicationStatement; start is effective[x] start, else dateAsserted.

    Raises:
        NotApplicable: entered-in-error or not-taken.
        MappingError: no patient, no medication, or no date.
    """
    status = str(resource.get("status") or "unknown")
    if status in _IGNORED:
        raise NotApplicable("status", status)
    patient = subject_ref(resource)
    if patient is None:
        raise MappingError("subject", "no Patient reference")
    drug = medication_of(resource, ctx)
    period = resource.get("effectivePeriod") or {}
    start = (
        parse_date(resource.get("effectiveDateTime"))
        or parse_date(period.get("start"))
        or parse_date(resource.get("dateAsserted"))
    )
    if start is None:
        raise MappingError("effective[x]", "no effective date or dateAsserted")
    return MedicationEvent(
        ref=f"MedicationStatement/{resource.get('id')}",
        kind=EventKind.STATEMENT,
        patient=patient,
        drug=drug,
        status=status,
        start=start,
        end=parse_date(period.get("end")),
        days_supply=None,
        supply_basis="none",
        prescriber=relative_reference(resource.get("informationSource")),
    )
