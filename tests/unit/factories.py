"""Test-side builders of domain records (constructed data, not FHIR)."""

from __future__ import annotations

from datetime import date

from fhirbridge.mappers import load_terminology
from fhirbridge.records import Drug, EventKind, MedicationEvent

_TERMINOLOGY = load_terminology()


def drug(text: str) -> Drug:
    """Classify a product text with the shipped table, e.g. drug('Sertraline 50 MG Oral Tablet')."""
    return _TERMINOLOGY.classify({"text": text})


def fill(
    ref: str,
    text: str,
    start: date,
    days: int | None,
    *,
    kind: EventKind = EventKind.DISPENSE,
    patient: str = "Patient/p1",
    prescriber: str | None = None,
    order_ref: str | None = None,
    status: str = "completed",
) -> MedicationEvent:
    """A dispense (or order) of `text` on `start` for `days` days supply."""
    return MedicationEvent(
        ref=ref
        if "/" in ref
        else f"{'MedicationDispense' if kind is EventKind.DISPENSE else 'MedicationRequest'}/{ref}",
        kind=kind,
        patient=patient,
        drug=drug(text),
        status=status,
        start=start,
        days_supply=days,
        supply_basis="daysSupply" if days else "none",
        prescriber=prescriber,
        order_ref=order_ref,
    )
