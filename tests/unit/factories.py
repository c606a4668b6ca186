"""Test-side builders of domain records (constructed data, not FHIR)."""

from __future__ import annotations

from dataclasses import replace
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


def order(
    ref: str,
    text: str,
    start: date,
    days: int | None,
    prescriber: str | None,
    *,
    status: str = "active",
    patient: str = "Patient/p1",
) -> MedicationEvent:
    """A MedicationRequest of `text` authored on `start` for `days` days, by `prescriber`."""
    return fill(
        ref,
        text,
        start,
        days,
        kind=EventKind.ORDER,
        prescriber=prescriber,
        status=status,
        patient=patient,
    )


def dispense(
    ref: str,
    text: str,
    start: date,
    days: int,
    order_ref: str,
    *,
    pharmacy: str | None = None,
    patient: str = "Patient/p1",
) -> MedicationEvent:
    """A MedicationDispense of `text` handed over on `start`, authorised by `order_ref`."""
    return replace(
        fill(ref, text, start, days, order_ref=order_ref, patient=patient), pharmacy=pharmacy
    )


def statement(
    ref: str,
    text: str,
    start: date,
    *,
    status: str = "active",
    source: str | None = "Patient/p1",
    end: date | None = None,
) -> MedicationEvent:
    """A MedicationStatement (reported use) of `text` since `start`."""
    return MedicationEvent(
        ref=f"MedicationStatement/{ref}",
        kind=EventKind.STATEMENT,
        patient="Patient/p1",
        drug=drug(text),
        status=status,
        start=start,
        end=end,
        days_supply=None,
        supply_basis="none",
        prescriber=source,
    )
