"""duplicate-therapy: two different drugs of one class supplied together long enough.

as_of 2025-03-31; a run of overlapping days must be 45 or more consecutive days (default) and
touch the last 90 days (2025-01-01 .. 03-31). Supply in hand past as_of counts.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from fhirbridge.reconciliation import DuplicateParams, assess_duplicate_therapy
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import dispense, order

AS_OF = date(2025, 3, 31)
QUETIAPINE = "Quetiapine 100 MG Oral Tablet"
QUETIAPINE_ER = "24 HR Quetiapine 300 MG Extended Release Oral Tablet"
OLANZAPINE = "Olanzapine 10 MG Oral Tablet"
SERTRALINE = "Sertraline 100 MG Oral Tablet"
ESCITALOPRAM = "Escitalopram 10 MG Oral Tablet"
LITHIUM = "Lithium Carbonate 300 MG Oral Capsule"
VALPROATE = "Divalproex Sodium 500 MG Delayed Release Oral Tablet"
CLONAZEPAM = "Clonazepam 1 MG Oral Tablet"
LORAZEPAM = "Lorazepam 1 MG Oral Tablet"


def _patient(*events: MedicationEvent) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=events,
        prescribers={
            "Practitioner/psy": Prescriber(ref="Practitioner/psy", role=PrescriberRole.PSYCHIATRIC),
            "Practitioner/pcp": Prescriber(
                ref="Practitioner/pcp", role=PrescriberRole.PRIMARY_CARE
            ),
        },
    )


def _monthly(
    key: str, text: str, first: date, fills: int, prescriber: str
) -> list[MedicationEvent]:
    """One order and `fills` 30-day dispenses every 30 days from `first`."""
    events = [order(key, text, first, 30, prescriber)]
    for n in range(fills):
        start = first + timedelta(days=30 * n)
        events.append(dispense(f"{key}-{n}", text, start, 30, f"MedicationRequest/{key}"))
    return events


def test_two_antipsychotics_from_two_prescribers_is_moderate() -> None:
    # Both dispensed every 30 days from 2024-12-02 (4 fills: 12-02 .. 2025-03-31): 120 days.
    records = _patient(
        *_monthly("q", QUETIAPINE, date(2024, 12, 2), 4, "Practitioner/psy"),
        *_monthly("o", OLANZAPINE, date(2024, 12, 2), 4, "Practitioner/pcp"),
    )
    [finding] = assess_duplicate_therapy(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "duplicate-therapy",
        "moderate",
        "coordination",
    )
    assert finding.implicated == ("MedicationRequest/o", "MedicationRequest/q")
    assert finding.prescribers == ("Practitioner/pcp", "Practitioner/psy")
    assert finding.summary == (
        "Duplicate therapy: 2 antipsychotics (olanzapine, quetiapine) together for 120 days"
    )
    assert "for 120 consecutive days from 2024-12-02" in finding.detail
    assert "different prescribers" in finding.detail
    assert "DUPTHPY" in finding.authority


def test_one_prescriber_is_low() -> None:
    # An augmentation by one psychiatrist is still worth noting, at low severity.
    records = _patient(
        *_monthly("q", QUETIAPINE, date(2024, 12, 2), 4, "Practitioner/psy"),
        *_monthly("o", OLANZAPINE, date(2024, 12, 2), 4, "Practitioner/psy"),
    )
    [finding] = assess_duplicate_therapy(records, as_of=AS_OF)
    assert finding.severity.value == "low"
    assert "one prescriber" in finding.detail


@pytest.mark.parametrize(("days", "fires"), [(44, False), (45, True)], ids=["44", "45"])
def test_threshold_is_consecutive_overlap_days(days: int, fires: bool) -> None:
    # Escitalopram 01-01..03-31 (90 days); sertraline starts `days` days before 03-31 + 1.
    start = AS_OF - timedelta(days=days - 1)
    records = _patient(
        order("esc", ESCITALOPRAM, date(2025, 1, 1), 90, "Practitioner/psy"),
        order("ser", SERTRALINE, start, 90, "Practitioner/pcp"),
    )
    assert bool(assess_duplicate_therapy(records, as_of=AS_OF)) is fires


def test_switch_with_a_short_cross_taper_is_not_duplicate() -> None:
    # Escitalopram to 03-10, sertraline from 03-01: a 10-day cross-taper (03-01..03-10).
    records = _patient(
        order("esc", ESCITALOPRAM, date(2024, 12, 11), 90, "Practitioner/psy", status="stopped"),
        order("ser", SERTRALINE, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    assert assess_duplicate_therapy(records, as_of=AS_OF) == []


def test_same_drug_refilled_early_is_not_duplicate() -> None:
    # Sertraline dispensed 03-01 and again 03-10 (9 days early), from two prescribers.
    records = _patient(
        order("s1", SERTRALINE, date(2025, 3, 1), 30, "Practitioner/psy"),
        order("s2", SERTRALINE, date(2025, 3, 10), 90, "Practitioner/pcp"),
    )
    assert assess_duplicate_therapy(records, as_of=AS_OF) == []


def test_two_products_of_one_ingredient_are_not_duplicate() -> None:
    records = _patient(
        *_monthly("q", QUETIAPINE, date(2024, 12, 2), 4, "Practitioner/psy"),
        *_monthly("qer", QUETIAPINE_ER, date(2024, 12, 2), 4, "Practitioner/pcp"),
    )
    assert assess_duplicate_therapy(records, as_of=AS_OF) == []


def test_lithium_with_valproate_is_not_duplicate_by_default() -> None:
    records = _patient(
        *_monthly("li", LITHIUM, date(2024, 12, 2), 4, "Practitioner/psy"),
        *_monthly("vpa", VALPROATE, date(2024, 12, 2), 4, "Practitioner/pcp"),
    )
    assert assess_duplicate_therapy(records, as_of=AS_OF) == []
    params = DuplicateParams(classes=("mood-stabilizer",))
    [finding] = assess_duplicate_therapy(records, as_of=AS_OF, params=params)
    assert "2 mood stabilizers" in finding.summary


def test_overlap_that_ended_before_the_lookback_is_not_raised() -> None:
    # Both benzodiazepines 2024-09-01 x90 (to 11-29): long, but over before 2025-01-01.
    records = _patient(
        order("c", CLONAZEPAM, date(2024, 9, 1), 90, "Practitioner/psy"),
        order("l", LORAZEPAM, date(2024, 9, 1), 90, "Practitioner/pcp"),
    )
    assert assess_duplicate_therapy(records, as_of=AS_OF) == []


def test_an_overlap_that_began_before_the_lookback_counts_in_full() -> None:
    # 2024-11-01 .. 2025-01-29 = 90 days together: it touches the window and counts whole.
    records = _patient(
        order("c", CLONAZEPAM, date(2024, 11, 1), 90, "Practitioner/psy"),
        order("l", LORAZEPAM, date(2024, 11, 1), 90, "Practitioner/pcp"),
    )
    [finding] = assess_duplicate_therapy(records, as_of=AS_OF)
    assert finding.summary.endswith(
        "2 benzodiazepines (clonazepam, lorazepam) together for 90 days"
    )


def test_key_stays_with_the_prescriptions_across_refills() -> None:
    base = [
        *_monthly("q", QUETIAPINE, date(2024, 12, 2), 3, "Practitioner/psy"),
        *_monthly("o", OLANZAPINE, date(2024, 12, 2), 3, "Practitioner/pcp"),
    ]
    more = [*base, dispense("q-9", QUETIAPINE, date(2025, 3, 2), 30, "MedicationRequest/q")]
    [before] = assess_duplicate_therapy(_patient(*base), as_of=AS_OF)
    [after] = assess_duplicate_therapy(_patient(*more), as_of=AS_OF)
    assert before.key == after.key
