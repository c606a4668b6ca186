"""naloxone-missing: MOUD or an opioid in the last 90 days, no rescue naloxone in 365 days.

as_of 2025-03-31: exposure window 2025-01-01 .. 03-31; rescue window 2024-04-01 .. 2025-03-31.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import NaloxoneParams, assess_naloxone_missing
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import dispense, order, statement

AS_OF = date(2025, 3, 31)
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
OXY = "Oxycodone Hydrochloride 5 MG Oral Tablet"
ALPRAZOLAM = "Alprazolam 1 MG Oral Tablet"
NALTREXONE = "Naltrexone Hydrochloride 50 MG Oral Tablet"
NALOXONE = "Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray"
SERTRALINE = "Sertraline 50 MG Oral Tablet"


def _patient(*events: MedicationEvent) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=events,
        prescribers={
            "Practitioner/add": Prescriber(ref="Practitioner/add", role=PrescriberRole.ADDICTION)
        },
    )


def _bup() -> list[MedicationEvent]:
    return [
        order("bup", BUP_NAL, date(2025, 2, 1), 28, "Practitioner/add"),
        dispense("b1", BUP_NAL, date(2025, 2, 1), 28, "MedicationRequest/bup"),
        dispense("b2", BUP_NAL, date(2025, 3, 1), 28, "MedicationRequest/bup"),
    ]


def test_buprenorphine_naloxone_without_rescue_is_high() -> None:
    # The naloxone inside buprenorphine/naloxone is not a rescue dose.
    [finding] = assess_naloxone_missing(_patient(*_bup()), as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "naloxone-missing",
        "high",
        "safety",
    )
    assert finding.implicated == ("MedicationRequest/bup",)
    assert finding.prescribers == ("Practitioner/add",)
    assert finding.summary == "On buprenorphine with no rescue naloxone on record: offer naloxone"
    assert "opioid use disorder treatment (buprenorphine)" in finding.detail
    assert "CDC 2022 recommendation 8" in finding.detail
    assert finding.authority.startswith("CDC 2022 Clinical Practice Guideline")


@pytest.mark.parametrize(
    "rescue",
    [
        order("nlx", NALOXONE, date(2024, 9, 1), 30, "Practitioner/add"),  # ordered 7 months ago
        dispense("nlxd", NALOXONE, date(2025, 3, 1), 30, "MedicationRequest/x"),
        statement("kit", NALOXONE, date(2023, 6, 1)),  # harm-reduction kit, reported, active
    ],
    ids=["order", "dispense", "reported-kit"],
)
def test_rescue_naloxone_on_record_prevents_the_finding(rescue: MedicationEvent) -> None:
    assert assess_naloxone_missing(_patient(*_bup(), rescue), as_of=AS_OF) == []


def test_rescue_older_than_a_year_does_not_count() -> None:
    old = order("nlx", NALOXONE, date(2024, 3, 31), 30, "Practitioner/add")  # 365 days before
    assert [f.rule for f in assess_naloxone_missing(_patient(*_bup(), old), as_of=AS_OF)] == [
        "naloxone-missing"
    ]
    longer = NaloxoneParams(rescue_lookback_days=366)
    assert assess_naloxone_missing(_patient(*_bup(), old), as_of=AS_OF, params=longer) == []


def test_opioid_analgesic_alone_is_moderate_and_with_a_benzodiazepine_high() -> None:
    oxy = order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/add")
    [alone] = assess_naloxone_missing(_patient(oxy), as_of=AS_OF)
    assert alone.severity.value == "moderate"
    assert "Risk factors" not in alone.detail
    benzo = order("alp", ALPRAZOLAM, date(2025, 3, 10), 30, None)
    [both] = assess_naloxone_missing(_patient(oxy, benzo), as_of=AS_OF)
    assert both.severity.value == "high"
    assert "a benzodiazepine supplied on the same days" in both.detail
    assert both.implicated == ("MedicationRequest/oxy",)  # the benzodiazepine is not the gap


def test_naltrexone_patients_are_offered_naloxone_too() -> None:
    [finding] = assess_naloxone_missing(
        _patient(order("ntx", NALTREXONE, date(2025, 3, 1), 30, "Practitioner/add")), as_of=AS_OF
    )
    assert "naltrexone" in finding.summary


def test_order_without_days_supply_in_the_window_is_exposure() -> None:
    # An opioid prescription on 03-01 whose duration is unknown still puts opioids at home.
    [finding] = assess_naloxone_missing(
        _patient(order("oxy", OXY, date(2025, 3, 1), None, None)), as_of=AS_OF
    )
    assert finding.implicated == ("MedicationRequest/oxy",)


@pytest.mark.parametrize(
    "events",
    [
        [order("oxy", OXY, date(2024, 12, 1), 30, None)],  # ended 12-30, before the window
        [order("ser", SERTRALINE, date(2025, 3, 1), 30, None)],  # no opioid
        [statement("bup", BUP_NAL, date(2025, 1, 1))],  # reported, not supplied
    ],
    ids=["past-opioid", "no-opioid", "statement-only"],
)
def test_near_misses(events: list[MedicationEvent]) -> None:
    assert assess_naloxone_missing(_patient(*events), as_of=AS_OF) == []
