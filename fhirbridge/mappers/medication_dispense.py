"""Pure: MedicationDispense → MedicationEvent (kind DISPENSE).

Fill date: whenHandedOver, else whenPrepared. Days supply: daysSupply, else quantity ÷ daily
dose (CMS CumulativeMedicationDuration, clinical-anchors.md 2.2).
"""

from __future__ import annotations

from collections.abc import Mapping

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.datatypes import (
    FhirJson,
    duration_days,
    parse_date,
    quantity_value,
    relative_reference,
    subject_ref,
)
from fhirbridge.mappers.dosage import daily_dose
from fhirbridge.mappers.medication import MappingContext, medication_of
from fhirbridge.records import EventKind, MedicationEvent


def to_dispense(resource: FhirJson, ctx: MappingContext) -> MedicationEvent:
    """Map one MedicationDispense; only `completed` dispenses are supply handed over.

    Raises:
        NotApplicable: any status other than completed (R4 medicationdispense-status).
        MappingError: no patient, no medication, or no date.
    """
    status = str(resource.get("status") or "unknown")
    if status != "completed":
        raise NotApplicable("status", status)
    patient = subject_ref(resource)
    if patient is None:
        raise MappingError("subject", "no Patient reference")
    drug = medication_of(resource, ctx)
    start = parse_date(resource.get("whenHandedOver")) or parse_date(resource.get("whenPrepared"))
    if start is None:
        raise MappingError("whenHandedOver", "no whenHandedOver or whenPrepared")
    per_day = daily_dose(resource.get("dosageInstruction"))
    quantity = quantity_value(resource.get("quantity"))
    days = duration_days(resource.get("daysSupply"))
    basis = "daysSupply"
    if days is None and quantity and per_day:
        days, basis = quantity / per_day, "quantity/daily-dose"
    if days is None or days <= 0:
        days, basis = None, "none"
    orders = resource.get("authorizingPrescription") or ()
    order_ref = relative_reference(orders[0]) if orders else None
    pharmacy = None
    for performer in resource.get("performer") or ():
        if isinstance(performer, Mapping):
            pharmacy = relative_reference(performer.get("actor"))
            if pharmacy:
                break
    return MedicationEvent(
        ref=f"MedicationDispense/{resource.get('id')}",
        kind=EventKind.DISPENSE,
        patient=patient,
        drug=drug,
        status=status,
        start=start,
        days_supply=round(days) if days else None,
        supply_basis=basis,
        pharmacy=pharmacy,
        order_ref=order_ref,
        quantity=quantity,
        daily_dose=per_day,
    )
