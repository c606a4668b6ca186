"""Test-side builders for the adherence tests: constructed records, not FHIR, not real patients."""

from __future__ import annotations

from datetime import date, timedelta

from fhirbridge.records import (
    EventKind,
    InpatientStay,
    MedicationEvent,
    ObservationRecord,
    PatientRecords,
)
from tests.unit.factories import drug

PATIENT = "Patient/p1"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
BUP = "Buprenorphine 8 MG Sublingual Tablet"
NALTREXONE_XR = "naltrexone 380 MG Extended-Release Injectable Suspension"
SERTRALINE = "Sertraline 50 MG Oral Tablet"
ESCITALOPRAM = "Escitalopram 10 MG Oral Tablet"
OXYCODONE = "Oxycodone Hydrochloride 5 MG Oral Tablet"
ALPRAZOLAM = "Alprazolam 0.5 MG Oral Tablet"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DETECTED, NOT_DETECTED = f"{SNOMED}|260373001", f"{SNOMED}|260415000"


def day(n: int, as_of: date) -> date:
    """Day n relative to as_of (day 0 = as_of, day -30 = 30 days before)."""
    return as_of + timedelta(days=n)


def dispense(
    ref: str,
    text: str,
    start: date,
    days: int | None,
    *,
    order: str | None = None,
    quantity: float | None = None,
    basis: str | None = None,
) -> MedicationEvent:
    return MedicationEvent(
        ref=f"MedicationDispense/{ref}",
        kind=EventKind.DISPENSE,
        patient=PATIENT,
        drug=drug(text),
        status="completed",
        start=start,
        days_supply=days,
        supply_basis=basis or ("daysSupply" if days else "none"),
        order_ref=f"MedicationRequest/{order}" if order else None,
        quantity=quantity,
    )


def order(
    ref: str,
    text: str,
    start: date,
    days: int | None,
    *,
    status: str = "active",
    refills: int | None = None,
    daily_dose: float | None = None,
    basis: str | None = None,
    prescriber: str | None = "Practitioner/pr1",
) -> MedicationEvent:
    return MedicationEvent(
        ref=f"MedicationRequest/{ref}",
        kind=EventKind.ORDER,
        patient=PATIENT,
        drug=drug(text),
        status=status,
        start=start,
        days_supply=days,
        supply_basis=basis or ("expectedSupplyDuration" if days else "none"),
        prescriber=prescriber,
        daily_dose=daily_dose,
        refills=refills,
    )


def observation(
    ref: str,
    code: str,
    effective: date,
    *,
    number: float | None = None,
    unit: str | None = None,
    concept: str | None = None,
    text: str | None = None,
    interpretation: str | None = None,
    status: str = "final",
) -> ObservationRecord:
    return ObservationRecord(
        ref=f"Observation/{ref}",
        patient=PATIENT,
        codes=frozenset({f"{LOINC}|{code}"}),
        effective=effective,
        status=status,
        value_number=number,
        value_unit=unit,
        value_codes=frozenset({concept}) if concept else frozenset(),
        value_text=text,
        interpretation=frozenset({f"{INTERPRETATION}|{interpretation}"})
        if interpretation
        else frozenset(),
    )


def stay(ref: str, start: date, end: date | None) -> InpatientStay:
    return InpatientStay(ref=f"Encounter/{ref}", patient=PATIENT, start=start, end=end)


def records(
    *events: MedicationEvent,
    observations: tuple[ObservationRecord, ...] = (),
    stays: tuple[InpatientStay, ...] = (),
) -> PatientRecords:
    return PatientRecords(
        patient=PATIENT,
        events=tuple(sorted(events, key=lambda e: (e.start, e.ref))),
        observations=observations,
        stays=stays,
    )
