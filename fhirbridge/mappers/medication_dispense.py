"""Pure: MedicationDispense → MedicationEvent (kind DISPENSE).

Fill date: whenHandedOver, else whenPrepared. Days supply: daysSupply, else quantity ÷ daily
dose (CMS CumulativeMedicationDuration, clinical-anchors.md 2.2), in whole days rounded down.
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
from fhirbridge.mappers.dosage import daily_dose, supply_from_quantity, whole_days
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
    # A zero or negative daysSupply is no supply information: fall through to the quantity.
    days, basis = whole_days(duration_days(resource.get("daysSupply"))), "daysSupply"
    if days is None:
        days, basis = supply_from_quantity(quantity, per_day), "quantity/daily-dose"
    if days is None:
        basis = "none"  # later links of the chain (the order, POD defaults): adherence/supply.py
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
        days_supply=days,
        supply_basis=basis,
        pharmacy=pharmacy,
        order_ref=order_ref,
        quantity=quantity,
        daily_dose=per_day,
    )
