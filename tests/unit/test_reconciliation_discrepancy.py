"""medication-list-discrepancy: reported but not supplied; stopped by one, active from another.

as_of 2025-03-31; supply in the last 365 days (2024-04-01 .. 2025-03-31) supports a report.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import assess_medication_list_discrepancy
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import dispense, order, statement

AS_OF = date(2025, 3, 31)
SERTRALINE = "Sertraline 50 MG Oral Tablet"
ALPRAZOLAM = "Alprazolam 0.5 MG Oral Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
SUBOXONE = "Suboxone 8 MG / 2 MG Sublingual Film"
NALOXONE = "Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray"
IBUPROFEN = "Ibuprofen 200 MG Oral Tablet"
QUETIAPINE = "Quetiapine 100 MG Oral Tablet"


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


def test_reported_benzodiazepine_without_supply_is_moderate() -> None:
    # As patient 24 of the example data: sertraline reported and dispensed, alprazolam
    # reported only.
    records = _patient(
        order("ser", SERTRALINE, date(2025, 1, 1), 30, "Practitioner/psy"),
        dispense("d1", SERTRALINE, date(2025, 3, 1), 30, "MedicationRequest/ser"),
        statement("s-ser", SERTRALINE, date(2025, 1, 1)),
        statement("s-alp", ALPRAZOLAM, date(2025, 2, 1)),
    )
    [finding] = assess_medication_list_discrepancy(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "medication-list-discrepancy",
        "moderate",
        "coordination",
    )
    assert finding.implicated == ("MedicationStatement/s-alp",)
    assert finding.prescribers == ()  # the patient reported it; no prescriber is involved
    assert (
        finding.summary == "Patient reports alprazolam, but no order or dispense of it is on record"
    )
    assert "MedicationStatement/s-alp (reported by Patient/p1)" in finding.detail
    assert "NPSG.03.06.01" in finding.authority


def test_reported_antidepressant_without_supply_is_low() -> None:
    records = _patient(statement("s-ser", SERTRALINE, date(2025, 2, 1)))
    [finding] = assess_medication_list_discrepancy(records, as_of=AS_OF)
    assert finding.severity.value == "low"


def test_brand_report_matches_the_generic_supply() -> None:
    # "Suboxone" is buprenorphine/naloxone: the dispense supports it.
    records = _patient(
        dispense("d", BUP_NAL, date(2025, 3, 1), 28, "MedicationRequest/x"),
        statement("s", SUBOXONE, date(2024, 6, 1)),
    )
    assert assess_medication_list_discrepancy(records, as_of=AS_OF) == []


@pytest.mark.parametrize(
    "report",
    [
        statement("nlx", NALOXONE, date(2025, 1, 1)),  # rescue kits are handed out, not ordered
        statement("ibu", IBUPROFEN, date(2025, 1, 1)),  # not a drug the table classifies (OTC)
        statement("old", ALPRAZOLAM, date(2024, 1, 1), status="completed"),  # no longer taken
        statement("end", ALPRAZOLAM, date(2023, 1, 1), end=date(2024, 1, 31)),  # ended
    ],
    ids=["naloxone", "unclassified", "completed", "ended-before-lookback"],
)
def test_reports_that_are_not_discrepancies(report: MedicationEvent) -> None:
    assert assess_medication_list_discrepancy(_patient(report), as_of=AS_OF) == []


def test_supply_older_than_a_year_does_not_support_a_report() -> None:
    records = _patient(
        order("alp", ALPRAZOLAM, date(2024, 3, 1), 30, "Practitioner/psy", status="completed"),
        statement("s", ALPRAZOLAM, date(2024, 3, 1)),
    )
    assert [f.implicated for f in assess_medication_list_discrepancy(records, as_of=AS_OF)] == [
        ("MedicationStatement/s",)
    ]


def test_drug_stopped_by_one_prescriber_and_active_from_another() -> None:
    records = _patient(
        order("q-psy", QUETIAPINE, date(2025, 1, 10), 30, "Practitioner/psy", status="stopped"),
        order("q-pcp", QUETIAPINE, date(2024, 12, 1), 90, "Practitioner/pcp"),
    )
    [finding] = assess_medication_list_discrepancy(records, as_of=AS_OF)
    assert finding.severity.value == "moderate"
    assert finding.summary == "Quetiapine stopped by one prescriber, still active from another"
    assert finding.implicated == ("MedicationRequest/q-pcp", "MedicationRequest/q-psy")
    assert finding.prescribers == ("Practitioner/pcp", "Practitioner/psy")
    assert "MedicationRequest/q-psy stopped, MedicationRequest/q-pcp still active" in finding.detail


@pytest.mark.parametrize(
    "events",
    [
        [  # the same prescriber replaced their own order
            order("a", QUETIAPINE, date(2025, 1, 10), 30, "Practitioner/psy", status="stopped"),
            order("b", QUETIAPINE, date(2025, 2, 10), 30, "Practitioner/psy"),
        ],
        [  # completed is not stopped: a finished course
            order("a", QUETIAPINE, date(2025, 1, 10), 30, "Practitioner/psy", status="completed"),
            order("b", QUETIAPINE, date(2025, 2, 10), 30, "Practitioner/pcp"),
        ],
        [  # different drugs: a switch
            order("a", SERTRALINE, date(2025, 1, 10), 30, "Practitioner/psy", status="stopped"),
            order("b", QUETIAPINE, date(2025, 2, 10), 30, "Practitioner/pcp"),
        ],
    ],
    ids=["same-prescriber", "completed", "different-drugs"],
)
def test_stopped_near_misses(events: list[MedicationEvent]) -> None:
    assert assess_medication_list_discrepancy(_patient(*events), as_of=AS_OF) == []
