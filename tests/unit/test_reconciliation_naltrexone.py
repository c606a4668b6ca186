"""naltrexone-opioid: overlap with any opioid agonist, and starts inside the washout.

as_of 2025-03-31; lookback 90 days: 2025-01-01 .. 2025-03-31. Washouts (Vivitrol label): 14
days after buprenorphine or methadone, 7 days after an opioid analgesic. "N opioid-free days"
counts the days strictly between the last supplied day and the naltrexone start.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import NaltrexoneParams, assess_naltrexone_opioid
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import dispense, order

AS_OF = date(2025, 3, 31)
NALTREXONE = "Naltrexone Hydrochloride 50 MG Oral Tablet"
VIVITROL = "naltrexone 380 MG Injectable Suspension [Vivitrol]"
TRAMADOL = "Tramadol Hydrochloride 50 MG Oral Tablet"
OXY = "Oxycodone Hydrochloride 5 MG Oral Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
METHADONE = "Methadone Hydrochloride 10 MG Oral Tablet"


def _patient(*events: MedicationEvent) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=events,
        prescribers={
            "Practitioner/add": Prescriber(ref="Practitioner/add", role=PrescriberRole.ADDICTION),
            "Practitioner/pcp": Prescriber(
                ref="Practitioner/pcp", role=PrescriberRole.PRIMARY_CARE
            ),
        },
    )


def _bup_until_feb_25() -> list[MedicationEvent]:
    # Two 28-day fills: 01-01..01-28 and 01-29..02-25; the last supplied day is 02-25.
    return [
        order("bup", BUP_NAL, date(2025, 1, 1), 28, "Practitioner/add", status="completed"),
        dispense("b1", BUP_NAL, date(2025, 1, 1), 28, "MedicationRequest/bup"),
        dispense("b2", BUP_NAL, date(2025, 1, 29), 28, "MedicationRequest/bup"),
    ]


def test_naltrexone_with_tramadol_overlap_is_high() -> None:
    # Naltrexone fills 01-01, 01-31, 03-02 (30 days each) cover 01-01..03-31; tramadol 03-01 x10
    # covers 03-01..03-10: 10 days together.
    records = _patient(
        order("ntx", NALTREXONE, date(2025, 1, 1), 30, "Practitioner/add"),
        dispense("n1", NALTREXONE, date(2025, 1, 1), 30, "MedicationRequest/ntx"),
        dispense("n2", NALTREXONE, date(2025, 1, 31), 30, "MedicationRequest/ntx"),
        dispense("n3", NALTREXONE, date(2025, 3, 2), 30, "MedicationRequest/ntx"),
        order("tram", TRAMADOL, date(2025, 3, 1), 10, "Practitioner/pcp"),
    )
    [finding] = assess_naltrexone_opioid(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "naltrexone-opioid",
        "high",
        "safety",
    )
    assert finding.implicated == ("MedicationRequest/ntx", "MedicationRequest/tram")
    assert finding.prescribers == ("Practitioner/add", "Practitioner/pcp")
    assert finding.summary == (
        "Naltrexone and opioid (tramadol) supplies overlap: blockade and withdrawal risk"
    )
    assert "overlap on 10 day(s)" in finding.detail
    assert "Practitioner/add (addiction), Practitioner/pcp (primary-care)" in finding.detail
    assert "Vivitrol" in finding.authority


@pytest.mark.parametrize(
    ("start", "fires"),
    [
        (date(2025, 3, 5), True),  # 02-26..03-04: 7 opioid-free days < 14
        (date(2025, 3, 11), True),  # 13 opioid-free days
        (date(2025, 3, 12), False),  # 14 opioid-free days: the washout was kept
    ],
    ids=["7-days", "13-days", "14-days"],
)
def test_naltrexone_start_within_two_weeks_of_buprenorphine(start: date, fires: bool) -> None:
    records = _patient(
        *_bup_until_feb_25(),
        order("ntx", VIVITROL, start, 28, "Practitioner/add"),
    )
    findings = assess_naltrexone_opioid(records, as_of=AS_OF)
    assert bool(findings) is fires
    if fires:
        [finding] = findings
        assert finding.implicated == ("MedicationRequest/bup", "MedicationRequest/ntx")
        assert finding.summary == (
            "Naltrexone started too soon after buprenorphine: risk of precipitated withdrawal"
        )
        free = (start - date(2025, 2, 25)).days - 1
        assert (
            f"Naltrexone started on {start.isoformat()}, {free} day(s) after the last "
            "buprenorphine supply ended on 2025-02-25 (washout 14 days)." in finding.detail
        )


def test_methadone_counts_like_buprenorphine_for_the_washout() -> None:
    # Methadone 02-01 x30 (02-01..03-02); naltrexone 03-10: 7 opioid-free days.
    records = _patient(
        order("met", METHADONE, date(2025, 2, 1), 30, "Practitioner/add", status="completed"),
        order("ntx", NALTREXONE, date(2025, 3, 10), 30, "Practitioner/add"),
    )
    [finding] = assess_naltrexone_opioid(records, as_of=AS_OF)
    assert "after the last methadone supply ended on 2025-03-02" in finding.detail


@pytest.mark.parametrize(
    ("start", "fires"),
    [(date(2025, 3, 10), True), (date(2025, 3, 13), False)],
    ids=["4-days", "7-days"],
)
def test_analgesic_washout_is_seven_days(start: date, fires: bool) -> None:
    # Oxycodone 03-01 x5 covers 03-01..03-05. Naltrexone on 03-10: 03-06..03-09 = 4 free days;
    # on 03-13: 03-06..03-12 = 7 free days, the label's minimum.
    records = _patient(
        order("oxy", OXY, date(2025, 3, 1), 5, "Practitioner/pcp", status="completed"),
        order("ntx", NALTREXONE, start, 30, "Practitioner/add"),
    )
    assert bool(assess_naltrexone_opioid(records, as_of=AS_OF)) is fires


def test_washout_is_configurable() -> None:
    # 7 opioid-free days: a finding with the default 14, none with a 7-day washout.
    records = _patient(*_bup_until_feb_25(), order("ntx", NALTREXONE, date(2025, 3, 5), 30, None))
    assert assess_naltrexone_opioid(records, as_of=AS_OF)
    seven = NaltrexoneParams(washout_after_moud_days=7)
    assert assess_naltrexone_opioid(records, as_of=AS_OF, params=seven) == []


def test_a_start_before_the_lookback_is_not_raised() -> None:
    # Bup ended 2024-10-28, naltrexone from 2024-11-01 (3 free days): long before the window,
    # and the naltrexone supply since then meets no opioid.
    records = _patient(
        order("bup", BUP_NAL, date(2024, 10, 1), 28, "Practitioner/add", status="completed"),
        order("ntx", NALTREXONE, date(2024, 11, 1), 150, "Practitioner/add"),
    )
    assert assess_naltrexone_opioid(records, as_of=AS_OF) == []


def test_naltrexone_alone_and_opioid_alone_do_not_fire() -> None:
    assert (
        assess_naltrexone_opioid(
            _patient(order("ntx", NALTREXONE, date(2025, 3, 1), 30, None)), as_of=AS_OF
        )
        == []
    )
    assert (
        assess_naltrexone_opioid(
            _patient(order("oxy", OXY, date(2025, 3, 1), 30, None)), as_of=AS_OF
        )
        == []
    )


def test_advice_never_stops_opioid_use_disorder_treatment() -> None:
    records = _patient(*_bup_until_feb_25(), order("ntx", NALTREXONE, date(2025, 2, 20), 30, None))
    [finding] = assess_naltrexone_opioid(records, as_of=AS_OF)
    # Naltrexone on 02-20 overlaps the bup supply to 02-25: the overlap wording applies.
    assert finding.summary.startswith("Naltrexone and opioid (buprenorphine) supplies overlap")
    assert "stop" not in finding.detail.lower()
    assert "keep the patient's opioid use disorder treatment in the plan" in finding.detail
