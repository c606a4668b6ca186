"""multiple-prescribers: controlled substances from 4+ prescribers or 4+ pharmacies in 180 days.

as_of 2025-03-31: the window is 2024-10-03 .. 2025-03-31 (180 days, both counted).
"""

from __future__ import annotations

from datetime import date

from fhirbridge.reconciliation import MultiplePrescribersParams, assess_multiple_prescribers
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import dispense, order

AS_OF = date(2025, 3, 31)
OXY = "Oxycodone Hydrochloride 5 MG Oral Tablet"
HYDRO = "Acetaminophen 325 MG / HYDROcodone Bitartrate 5 MG Oral Tablet"
TRAMADOL = "Tramadol Hydrochloride 50 MG Oral Tablet"
ALPRAZOLAM = "Alprazolam 1 MG Oral Tablet"
SERTRALINE = "Sertraline 50 MG Oral Tablet"
PREGABALIN = "Pregabalin 75 MG Oral Capsule"


def _patient(*events: MedicationEvent) -> PatientRecords:
    roles = {
        "Practitioner/a": PrescriberRole.PRIMARY_CARE,
        "Practitioner/b": PrescriberRole.PRIMARY_CARE,
        "Practitioner/c": PrescriberRole.OTHER,
        "Practitioner/d": PrescriberRole.PSYCHIATRIC,
    }
    return PatientRecords(
        patient="Patient/p1",
        events=events,
        prescribers={ref: Prescriber(ref=ref, role=role) for ref, role in roles.items()},
    )


def _filled(n: int, text: str, day: date, prescriber: str, pharmacy: str) -> list[MedicationEvent]:
    """An order and its dispense at `pharmacy`."""
    return [
        order(f"o{n}", text, day, 7, prescriber, status="completed"),
        dispense(f"d{n}", text, day, 7, f"MedicationRequest/o{n}", pharmacy=pharmacy),
    ]


def test_four_prescribers_at_one_pharmacy_is_moderate() -> None:
    records = _patient(
        *_filled(1, OXY, date(2024, 11, 1), "Practitioner/a", "Organization/ph1"),
        *_filled(2, HYDRO, date(2024, 12, 1), "Practitioner/b", "Organization/ph1"),
        *_filled(3, TRAMADOL, date(2025, 1, 1), "Practitioner/c", "Organization/ph1"),
        *_filled(4, ALPRAZOLAM, date(2025, 2, 1), "Practitioner/d", "Organization/ph1"),
    )
    [finding] = assess_multiple_prescribers(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "multiple-prescribers",
        "moderate",
        "coordination",
    )
    assert finding.summary == "Controlled substances from 4 prescribers and 1 pharmacy in 180 days"
    assert finding.implicated == tuple(f"MedicationRequest/o{n}" for n in range(1, 5))
    assert finding.prescribers == tuple(f"Practitioner/{x}" for x in "abcd")
    assert "Practitioner/d (psychiatric)" in finding.detail
    assert "check the state PDMP" in finding.detail
    assert "Do not dismiss the patient" in finding.detail
    assert finding.authority.startswith("HEDIS Use of Opioids from Multiple Providers")


def test_four_pharmacies_and_four_prescribers_is_high() -> None:
    records = _patient(
        *_filled(1, OXY, date(2024, 11, 1), "Practitioner/a", "Organization/ph1"),
        *_filled(2, HYDRO, date(2024, 12, 1), "Practitioner/b", "Organization/ph2"),
        *_filled(3, TRAMADOL, date(2025, 1, 1), "Practitioner/c", "Organization/ph3"),
        *_filled(4, ALPRAZOLAM, date(2025, 2, 1), "Practitioner/d", "Organization/ph4"),
    )
    [finding] = assess_multiple_prescribers(records, as_of=AS_OF)
    assert finding.severity.value == "high"
    assert (
        "Pharmacies: Organization/ph1, Organization/ph2, Organization/ph3, Organization/ph4."
        in (finding.detail)
    )


def test_four_pharmacies_from_two_prescribers_fires_unless_both_are_required() -> None:
    records = _patient(
        *_filled(1, OXY, date(2024, 11, 1), "Practitioner/a", "Organization/ph1"),
        *_filled(2, OXY, date(2024, 12, 1), "Practitioner/a", "Organization/ph2"),
        *_filled(3, OXY, date(2025, 1, 1), "Practitioner/b", "Organization/ph3"),
        *_filled(4, OXY, date(2025, 2, 1), "Practitioner/b", "Organization/ph4"),
    )
    [finding] = assess_multiple_prescribers(records, as_of=AS_OF)
    assert finding.summary.startswith("Controlled substances from 2 prescribers and 4 pharmacies")
    pqa = MultiplePrescribersParams(require_both=True)
    assert assess_multiple_prescribers(records, as_of=AS_OF, params=pqa) == []


def test_three_and_three_is_below_the_thresholds() -> None:
    records = _patient(
        *_filled(1, OXY, date(2024, 11, 1), "Practitioner/a", "Organization/ph1"),
        *_filled(2, HYDRO, date(2024, 12, 1), "Practitioner/b", "Organization/ph2"),
        *_filled(3, TRAMADOL, date(2025, 1, 1), "Practitioner/c", "Organization/ph3"),
    )
    assert assess_multiple_prescribers(records, as_of=AS_OF) == []
    three = MultiplePrescribersParams(min_prescribers=3)
    assert len(assess_multiple_prescribers(records, as_of=AS_OF, params=three)) == 1


def test_fills_outside_the_window_and_non_controlled_drugs_do_not_count() -> None:
    records = _patient(
        # 2024-10-02 is 181 days before as_of: outside.
        *_filled(1, OXY, date(2024, 10, 2), "Practitioner/a", "Organization/ph1"),
        *_filled(2, HYDRO, date(2024, 12, 1), "Practitioner/b", "Organization/ph2"),
        *_filled(3, TRAMADOL, date(2025, 1, 1), "Practitioner/c", "Organization/ph3"),
        *_filled(4, SERTRALINE, date(2025, 2, 1), "Practitioner/d", "Organization/ph4"),
    )
    assert assess_multiple_prescribers(records, as_of=AS_OF) == []


def test_pregabalin_is_a_controlled_substance() -> None:
    records = _patient(
        *_filled(1, OXY, date(2024, 11, 1), "Practitioner/a", "Organization/ph1"),
        *_filled(2, HYDRO, date(2024, 12, 1), "Practitioner/b", "Organization/ph1"),
        *_filled(3, TRAMADOL, date(2025, 1, 1), "Practitioner/c", "Organization/ph1"),
        *_filled(4, PREGABALIN, date(2025, 2, 1), "Practitioner/d", "Organization/ph1"),
    )
    assert len(assess_multiple_prescribers(records, as_of=AS_OF)) == 1
