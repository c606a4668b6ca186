"""Pure: the days-supply derivation chain across resources, and the HEDIS POD defaults.

The chain (clinical-anchors.md 2.4, "practical fallback chain"):

1. MedicationDispense.daysSupply                         (mappers/medication_dispense.py)
2. dispense quantity ÷ daily dose, the dose read from the dispense's dosageInstruction
   (mapper), else from its order's                       (here: "quantity/order-daily-dose")
3. the order's dispenseRequest.expectedSupplyDuration     (here: "order:expectedSupplyDuration")
4. the order's quantity ÷ its daily dose                  (here: "order:quantity/daily-dose")
5. for MOUD only, the HEDIS POD defaults when the data has no days supply at all
   (clinical-anchors.md 1.3): oral buprenorphine 7 days, buprenorphine injection 31,
   buprenorphine implant 180, naltrexone injection 31.   (here: "pod-default:<form>")

An order on its own goes through 3, 4 (its mapper) and 5. Step 5 is an imputation, not data:
the event is marked `imputed=True` and the run report counts it (OHDSI Themis #125: never
fabricate a days supply silently). Anything still without a days supply stays None and is
skipped by the measures with a counted reason.
"""

from __future__ import annotations

from dataclasses import replace

from fhirbridge.mappers.dosage import supply_from_quantity
from fhirbridge.records import (
    DISPENSE,
    ORDER,
    STATEMENT,
    MedicationEvent,
    PatientRecords,
)

# Dose-form words in RxNorm product names (the Drug's display text), lower case.
_IMPLANT = ("implant",)
_INJECTION = ("injection", "injectable", "prefilled syringe", "auto-injector")
_ORAL = ("sublingual", "buccal", "oral", "tablet", "film", "lozenge")

# HEDIS MY2025 POD medication table defaults (clinical-anchors.md 1.3).
POD_DEFAULTS: dict[str, int] = {
    "buprenorphine-oral": 7,
    "buprenorphine-injection": 31,  # NCQA FAQ 4.15.2026 confirms 31 days for MY2026
    "buprenorphine-implant": 180,
    "naltrexone-injection": 31,
}


def pod_form(event: MedicationEvent) -> str | None:
    """The POD default row for a MOUD product without a days supply, from its dose form.

    Buprenorphine patches (pain) and oral naltrexone (POD lists it without a default) get none.
    """
    drug = event.drug
    if "moud" not in drug.groups:
        return None
    text = drug.display.lower()
    if "buprenorphine" in drug.classes:
        if any(word in text for word in _IMPLANT):
            return "buprenorphine-implant"
        if any(word in text for word in _INJECTION):
            return "buprenorphine-injection"
        if any(word in text for word in _ORAL):
            return "buprenorphine-oral"
    elif "naltrexone" in drug.classes and any(word in text for word in _INJECTION):
        return "naltrexone-injection"
    return None


def resolve_supply(records: PatientRecords) -> PatientRecords:
    """Records whose dispenses and orders carry the best days supply the chain can find.

    Returns the same object when nothing changes (the common case: every fill has daysSupply).
    """
    if all(e.days_supply or e.kind is STATEMENT for e in records.events):
        return records
    orders = {e.ref: e for e in records.events if e.kind is ORDER}
    events = tuple(
        _resolved(e, orders) if not e.days_supply and e.kind is not STATEMENT else e
        for e in records.events
    )
    return replace(records, events=events)


def imputed(records: PatientRecords) -> list[tuple[str, str]]:
    """(ref, basis) of every event whose days supply is a default, not data."""
    return [(e.ref, e.supply_basis) for e in records.events if e.imputed]


def _resolved(event: MedicationEvent, orders: dict[str, MedicationEvent]) -> MedicationEvent:
    order = orders.get(event.order_ref or "") if event.kind is DISPENSE else None
    if order is not None:
        days = supply_from_quantity(event.quantity, order.daily_dose)
        if days is not None:
            return replace(event, days_supply=days, supply_basis="quantity/order-daily-dose")
        if order.days_supply and not order.imputed:
            return replace(
                event, days_supply=order.days_supply, supply_basis=f"order:{order.supply_basis}"
            )
    form = pod_form(event)
    if form is None:
        return event
    return replace(
        event, days_supply=POD_DEFAULTS[form], supply_basis=f"pod-default:{form}", imputed=True
    )
