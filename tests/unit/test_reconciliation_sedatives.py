"""opioid-gabapentinoid and opioid-sedative-hypnotic on constructed patients.

as_of 2025-03-31; the default lookback is 90 days: 2025-01-01 .. 2025-03-31.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import (
    SedativeParams,
    assess_opioid_gabapentinoid,
    assess_opioid_sedative_hypnotic,
)
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import dispense, order

AS_OF = date(2025, 3, 31)
OXY = "Oxycodone Hydrochloride 5 MG Oral Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
GABAPENTIN = "Gabapentin 300 MG Oral Capsule"
PREGABALIN = "Pregabalin 75 MG Oral Capsule"
ZOLPIDEM = "Zolpidem Tartrate 10 MG Oral Tablet"
ESZOPICLONE = "Eszopiclone 2 MG Oral Tablet"
ALPRAZOLAM = "Alprazolam 1 MG Oral Tablet"
PATCH = "buprenorphine 10 MCG/HR Transdermal System [Butrans]"


def _patient(*events: MedicationEvent) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=events,
        prescribers={
            "Practitioner/add": Prescriber(ref="Practitioner/add", role=PrescriberRole.ADDICTION),
            "Practitioner/psy": Prescriber(ref="Practitioner/psy", role=PrescriberRole.PSYCHIATRIC),
            "Practitioner/pcp": Prescriber(
                ref="Practitioner/pcp", role=PrescriberRole.PRIMARY_CARE
            ),
        },
    )


def test_opioid_analgesic_and_gabapentin_is_moderate_with_fda_2019() -> None:
    # Oxycodone 03-01 x30 (03-01..03-30) and gabapentin 03-11 x30 (03-11..04-09): the overlap
    # inside the window is 03-11..03-30 = 20 days.
    records = _patient(
        order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/pcp"),
        order("gaba", GABAPENTIN, date(2025, 3, 11), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_gabapentinoid(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "opioid-gabapentinoid",
        "moderate",
        "safety",
    )
    assert finding.implicated == ("MedicationRequest/gaba", "MedicationRequest/oxy")
    assert finding.prescribers == ("Practitioner/pcp", "Practitioner/psy")
    assert finding.summary == "Opioid (oxycodone) and gabapentinoid (gabapentin) supplies overlap"
    assert "20 day(s)" in finding.detail
    assert "Practitioner/pcp (primary-care), Practitioner/psy (psychiatric)" in finding.detail
    assert "(FDA, 2019)" in finding.detail
    assert finding.authority.startswith("FDA Drug Safety Communication 2019-12-19")


def test_pregabalin_counts_as_gabapentinoid() -> None:
    records = _patient(
        order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/pcp"),
        order("pre", PREGABALIN, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_gabapentinoid(records, as_of=AS_OF)
    assert "pregabalin" in finding.summary


def test_moud_and_gabapentin_is_moderate_coordination_never_stop() -> None:
    # Dispenses of the bup/nal order: implicated is the order, not each refill.
    records = _patient(
        order("bup", BUP_NAL, date(2025, 2, 1), 28, "Practitioner/add"),
        dispense("d1", BUP_NAL, date(2025, 2, 1), 28, "MedicationRequest/bup"),
        dispense("d2", BUP_NAL, date(2025, 3, 1), 28, "MedicationRequest/bup"),
        order("gaba", GABAPENTIN, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_gabapentinoid(records, as_of=AS_OF)
    assert finding.severity.value == "moderate"
    assert finding.implicated == ("MedicationRequest/bup", "MedicationRequest/gaba")
    assert (
        finding.summary
        == "MOUD (buprenorphine) overlaps gabapentin: coordinate care; do not stop MOUD"
    )
    assert "should **not be withheld**" in finding.detail
    assert finding.authority.startswith("FDA Drug Safety Communication 2017-09-20")


def test_opioid_and_zolpidem_is_high() -> None:
    # Oxycodone 01-10 x30 (01-10..02-08) and zolpidem 01-20 x30 (01-20..02-18): both on
    # 01-20..02-08, which is 12 + 8 = 20 days.
    records = _patient(
        order("oxy", OXY, date(2025, 1, 10), 30, "Practitioner/pcp"),
        order("zol", ZOLPIDEM, date(2025, 1, 20), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_sedative_hypnotic(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value) == ("opioid-sedative-hypnotic", "high")
    assert finding.summary == "Opioid (oxycodone) and sedative-hypnotic (zolpidem) supplies overlap"
    assert "20 day(s)" in finding.detail
    assert "CDC 2022 recommendation 11" in finding.detail


def test_buprenorphine_pain_patch_with_zolpidem_is_an_analgesic_case() -> None:
    # A transdermal buprenorphine patch is an opioid analgesic, not MOUD: high, not moderate.
    records = _patient(
        order("patch", PATCH, date(2025, 3, 1), 28, "Practitioner/pcp"),
        order("esz", ESZOPICLONE, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_sedative_hypnotic(records, as_of=AS_OF)
    assert finding.severity.value == "high"
    assert finding.summary.startswith("Opioid (buprenorphine)")


@pytest.mark.parametrize(
    ("assess", "partner"),
    [(assess_opioid_gabapentinoid, GABAPENTIN), (assess_opioid_sedative_hypnotic, ZOLPIDEM)],
    ids=["gabapentinoid", "z-drug"],
)
def test_sequential_supplies_do_not_fire(assess: object, partner: str) -> None:
    # Oxycodone 01-01..01-30, then the partner from 01-31: never on the same day.
    records = _patient(
        order("oxy", OXY, date(2025, 1, 1), 30, "Practitioner/pcp"),
        order("p", partner, date(2025, 1, 31), 30, "Practitioner/psy"),
    )
    assert assess(records, as_of=AS_OF) == []  # type: ignore[operator]


def test_benzodiazepine_is_not_a_sedative_hypnotic_here() -> None:
    # opioid + alprazolam is opioid-benzodiazepine's business, not this rule's.
    records = _patient(
        order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/pcp"),
        order("alp", ALPRAZOLAM, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    assert assess_opioid_sedative_hypnotic(records, as_of=AS_OF) == []
    assert assess_opioid_gabapentinoid(records, as_of=AS_OF) == []


def test_lookback_is_configurable() -> None:
    # Overlap 2024-12-01..12-30 is 91..120 days before as_of: outside 90, inside 121.
    records = _patient(
        order("oxy", OXY, date(2024, 12, 1), 30, "Practitioner/pcp"),
        order("gaba", GABAPENTIN, date(2024, 12, 1), 30, "Practitioner/psy"),
    )
    assert assess_opioid_gabapentinoid(records, as_of=AS_OF) == []
    wider = SedativeParams(lookback_days=121)
    assert [f.rule for f in assess_opioid_gabapentinoid(records, as_of=AS_OF, params=wider)] == [
        "opioid-gabapentinoid"
    ]
