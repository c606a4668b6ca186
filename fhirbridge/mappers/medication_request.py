"""Pure: MedicationRequest → MedicationEvent (kind ORDER).

An order counts as one fill on authoredOn (else validityPeriod.start) for
expectedSupplyDuration days, else quantity ÷ daily dose in whole days rounded down (CONTRACT.md
"PDC as computed"); refills are not assumed filled.
"""

from __future__ import annotations

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.datatypes import (
    FhirJson,
    duration_days,
    parse_date,
    quantity_value,
    relative_reference,
    subject_ref,
)
from fhirbridge.mappers.dosage import daily_dose, supply_from_quantity, whole_days
from fhirbridge.mappers.medication import MappingContext, medication_of
from fhirbridge.records import EventKind, MedicationEvent

# R4 medicationrequest-status values that never stood for supply
# (hl7.org/fhir/R4/valueset-medicationrequest-status.html).
_NOT_ORDERS = {"cancelled", "entered-in-error", "draft"}
# R4 medicationrequest-intent: only orders authorize supply; plans and proposals do not.
_ORDER_INTENTS = {"order", "original-order", "reflex-order", "filler-order", "instance-order"}


def to_order(resource: FhirJson, ctx: MappingContext) -> MedicationEvent:
    """Map one MedicationRequest.

    Raises:
        NotApplicable: a status or intent that is not an order for supply.
        MappingError: no patient, no medication, or no date.
    """
    status = str(resource.get("status") or "unknown")
    if status in _NOT_ORDERS:
        raise NotApplicable("status", status)
    intent = resource.get("intent")
    if intent is not None and intent not in _ORDER_INTENTS:
        raise NotApplicable("intent", str(intent))
    patient = subject_ref(resource)
    if patient is None:
        raise MappingError("subject", "no Patient reference")
    drug = medication_of(resource, ctx)
    dispense = resource.get("dispenseRequest") or {}
    validity = dispense.get("validityPeriod") or {}
    start = parse_date(resource.get("authoredOn")) or parse_date(validity.get("start"))
    if start is None:
        raise MappingError("authoredOn", "no authoredOn or dispenseRequest.validityPeriod.start")

    per_day = daily_dose(resource.get("dosageInstruction"))
    quantity = quantity_value(dispense.get("quantity"))
    # A zero expectedSupplyDuration says nothing: fall through to the quantity.
    days = whole_days(duration_days(dispense.get("expectedSupplyDuration")))
    basis = "expectedSupplyDuration"
    if days is None:
        days, basis = supply_from_quantity(quantity, per_day), "quantity/daily-dose"
    if days is None:
        basis = "none"  # the POD defaults for MOUD are applied later: adherence/supply.py
    return MedicationEvent(
        ref=f"MedicationRequest/{resource.get('id')}",
        kind=EventKind.ORDER,
        patient=patient,
        drug=drug,
        status=status,
        start=start,
        days_supply=days,
        supply_basis=basis,
        prescriber=relative_reference(resource.get("requester")),
        quantity=quantity,
        daily_dose=per_day,
        refills=_refills(dispense.get("numberOfRepeatsAllowed")),
    )


def _refills(value: object) -> int | None:
    """numberOfRepeatsAllowed: refills after the first fill (R4 unsignedInt)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
