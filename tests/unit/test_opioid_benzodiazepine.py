"""opioid-benzodiazepine on constructed patients: fires, near misses, severity, prescribers.

as_of 2025-03-31; the default lookback is 90 days: 2025-01-01 .. 2025-03-31.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import OpioidBenzoParams, assess_opioid_benzodiazepine
from fhirbridge.records import EventKind, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import fill

AS_OF = date(2025, 3, 31)
OXY = "Oxycodone Hydrochloride 5 MG Oral Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
METHADONE = "Methadone Hydrochloride 10 MG Oral Tablet"
ALPRAZOLAM = "Alprazolam 1 MG Oral Tablet"
NALOXONE = "Naloxone 4 MG/ACTUAT Nasal Spray"
SERTRALINE = "Sertraline 50 MG Oral Tablet"


def _order(ref: str, text: str, start: date, days: int, prescriber: str) -> object:
    return fill(
        ref, text, start, days, kind=EventKind.ORDER, prescriber=prescriber, status="active"
    )


def _patient(*events: object) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=tuple(events),  # type: ignore[arg-type]
        prescribers={
            "Practitioner/add": Prescriber(ref="Practitioner/add", role=PrescriberRole.ADDICTION),
            "Practitioner/psy": Prescriber(ref="Practitioner/psy", role=PrescriberRole.PSYCHIATRIC),
        },
    )


def test_analgesic_opioid_and_benzodiazepine_overlap_is_high() -> None:
    # Oxycodone order 03-01 x30 (03-01..03-30) and alprazolam 03-15 x30 overlap 03-15..03-30.
    records = _patient(
        _order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/pcp"),
        _order("alp", ALPRAZOLAM, date(2025, 3, 15), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_benzodiazepine(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "opioid-benzodiazepine",
        "high",
        "safety",
    )
    assert finding.implicated == ("MedicationRequest/alp", "MedicationRequest/oxy")
    assert finding.prescribers == ("Practitioner/pcp", "Practitioner/psy")
    assert "16 day(s)" in finding.detail  # 03-15..03-30 inclusive
    assert finding.authority.startswith("FDA Drug Safety Communication 2016-08-31")


def test_moud_and_benzodiazepine_is_moderate_and_never_says_stop_moud() -> None:
    # Dispenses of buprenorphine/naloxone authorised by order "bup" (addiction) overlap an
    # alprazolam order (psychiatry): implicated are the prescriptions, not each refill.
    records = _patient(
        _order("bup", BUP_NAL, date(2025, 1, 5), 28, "Practitioner/add"),
        fill("d1", BUP_NAL, date(2025, 1, 5), 28, order_ref="MedicationRequest/bup"),
        fill("d2", BUP_NAL, date(2025, 2, 2), 28, order_ref="MedicationRequest/bup"),
        _order("alp", ALPRAZOLAM, date(2025, 2, 10), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_benzodiazepine(records, as_of=AS_OF)
    assert finding.severity.value == "moderate"
    assert finding.implicated == ("MedicationRequest/alp", "MedicationRequest/bup")
    assert finding.prescribers == ("Practitioner/add", "Practitioner/psy")
    assert "Practitioner/add (addiction), Practitioner/psy (psychiatric)" in finding.detail
    assert "should **not be withheld**" in finding.detail
    assert "stop" not in finding.summary.lower().replace("do not stop", "")
    assert "2017" in finding.authority


def test_methadone_counts_as_moud_for_severity() -> None:
    records = _patient(
        _order("met", METHADONE, date(2025, 3, 1), 30, "Practitioner/add"),
        _order("alp", ALPRAZOLAM, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_benzodiazepine(records, as_of=AS_OF)
    assert finding.severity.value == "moderate"


def test_moud_plus_analgesic_plus_benzodiazepine_is_high() -> None:
    records = _patient(
        _order("bup", BUP_NAL, date(2025, 3, 1), 30, "Practitioner/add"),
        _order("oxy", OXY, date(2025, 3, 1), 10, "Practitioner/pcp"),
        _order("alp", ALPRAZOLAM, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    [finding] = assess_opioid_benzodiazepine(records, as_of=AS_OF)
    assert finding.severity.value == "high"
    assert finding.implicated == (
        "MedicationRequest/alp",
        "MedicationRequest/bup",
        "MedicationRequest/oxy",
    )


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(  # sequential: oxycodone 01-01..01-30, alprazolam from 01-31: never together
            [
                _order("oxy", OXY, date(2025, 1, 1), 30, "Practitioner/pcp"),
                _order("alp", ALPRAZOLAM, date(2025, 1, 31), 30, "Practitioner/psy"),
            ],
            id="sequential",
        ),
        pytest.param(  # overlap long ago: 2024-06 is outside the 90-day lookback
            [
                _order("oxy", OXY, date(2024, 6, 1), 30, "Practitioner/pcp"),
                _order("alp", ALPRAZOLAM, date(2024, 6, 1), 30, "Practitioner/psy"),
            ],
            id="outside-lookback",
        ),
        pytest.param(  # rescue naloxone is not an opioid agonist
            [
                _order("nlx", NALOXONE, date(2025, 3, 1), 30, "Practitioner/add"),
                _order("alp", ALPRAZOLAM, date(2025, 3, 1), 30, "Practitioner/psy"),
            ],
            id="naloxone-is-not-opioid",
        ),
        pytest.param(  # no benzodiazepine at all
            [
                _order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/pcp"),
                _order("ser", SERTRALINE, date(2025, 3, 1), 30, "Practitioner/psy"),
            ],
            id="no-benzo",
        ),
        pytest.param(  # an order with no days supply has no coverage to overlap
            [
                _order("oxy", OXY, date(2025, 3, 1), 30, "Practitioner/pcp"),
                fill("alp", ALPRAZOLAM, date(2025, 3, 1), None, kind=EventKind.ORDER),
            ],
            id="no-days-supply",
        ),
    ],
)
def test_near_misses_do_not_fire(events: list[object]) -> None:
    assert assess_opioid_benzodiazepine(_patient(*events), as_of=AS_OF) == []


def test_dispenses_decide_coverage_when_present() -> None:
    # The alprazolam order says 03-01 x30, but the pharmacy dispensed it only on 01-02 x10
    # (01-02..01-11), before the oxycodone (02-01..03-02): judged on dispenses, no overlap.
    records = _patient(
        _order("oxy", OXY, date(2025, 2, 1), 30, "Practitioner/pcp"),
        _order("alp", ALPRAZOLAM, date(2025, 3, 1), 30, "Practitioner/psy"),
        fill("d-alp", ALPRAZOLAM, date(2025, 1, 2), 10, order_ref="MedicationRequest/alp"),
    )
    assert assess_opioid_benzodiazepine(records, as_of=AS_OF) == []


def test_lookback_is_configurable() -> None:
    # Overlap 2024-12-01..12-30 is 91-120 days before as_of: outside 90, inside 120.
    events = [
        _order("oxy", OXY, date(2024, 12, 1), 30, "Practitioner/pcp"),
        _order("alp", ALPRAZOLAM, date(2024, 12, 1), 30, "Practitioner/psy"),
    ]
    assert assess_opioid_benzodiazepine(_patient(*events), as_of=AS_OF) == []
    wider = assess_opioid_benzodiazepine(
        _patient(*events), as_of=AS_OF, params=OpioidBenzoParams(lookback_days=121)
    )
    assert [f.rule for f in wider] == ["opioid-benzodiazepine"]


def test_key_is_stable_across_refills_of_the_same_prescriptions() -> None:
    base = [
        _order("bup", BUP_NAL, date(2025, 2, 1), 28, "Practitioner/add"),
        fill("d1", BUP_NAL, date(2025, 2, 1), 28, order_ref="MedicationRequest/bup"),
        _order("alp", ALPRAZOLAM, date(2025, 2, 1), 60, "Practitioner/psy"),
    ]
    refilled = [*base, fill("d2", BUP_NAL, date(2025, 3, 1), 28, order_ref="MedicationRequest/bup")]
    [before] = assess_opioid_benzodiazepine(_patient(*base), as_of=AS_OF)
    [after] = assess_opioid_benzodiazepine(_patient(*refilled), as_of=AS_OF)
    assert before.key == after.key
