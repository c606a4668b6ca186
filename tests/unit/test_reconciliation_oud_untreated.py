"""oud-untreated, and the Condition mapper it reads.

as_of 2025-03-31; MOUD lookback 90 days: 2025-01-01 .. 03-31. ICD-10-CM F11 (opioid related
disorders) and the SNOMED codes of the CDC value set "Opioid misuse disorders".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from fhirbridge.analysis import analyze_patient
from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers import to_condition
from fhirbridge.mappers.patient import to_vital_status
from fhirbridge.reconciliation import OudUntreatedParams, assess_oud_untreated
from fhirbridge.records import ConditionRecord, MedicationEvent, PatientRecords
from tests.unit.factories import order, statement

AS_OF = date(2025, 3, 31)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"
PATCH = "buprenorphine 10 MCG/HR Transdermal System"
METHADONE = "Methadone Hydrochloride 10 MG/ML Oral Solution"
NALOXONE = "Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray"


def _condition(code: str, system: str = ICD, **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {"coding": [{"system": system, "code": code}], "text": "Opioid dependence"},
        "onsetDateTime": "2024-06-01T10:00:00-05:00",
    }
    resource.update(fields)
    return resource


def _patient(condition: ConditionRecord | None, *events: MedicationEvent) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1", events=events, conditions=(condition,) if condition else ()
    )


# ---- the mapper ----------------------------------------------------------------------------


def test_condition_mapper_reads_codes_status_and_dates() -> None:
    record = to_condition(
        _condition("F11.20", abatementDateTime="2025-02-01", recordedDate="2024-06-02")
    )
    assert record == ConditionRecord(
        ref="Condition/c1",
        patient="Patient/p1",
        codes=frozenset({f"{ICD}|F11.20"}),
        clinical_status="active",
        verification_status="confirmed",
        onset=date(2024, 6, 1),
        abated=date(2025, 2, 1),
        text="Opioid dependence",
    )


def test_condition_mapper_falls_back_to_recorded_date() -> None:
    resource = _condition("F11.20", recordedDate="2024-07-01")
    del resource["onsetDateTime"]
    assert to_condition(resource).onset == date(2024, 7, 1)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"verificationStatus": {"coding": [{"code": "refuted"}]}}, NotApplicable),
        ({"verificationStatus": {"coding": [{"code": "entered-in-error"}]}}, NotApplicable),
        ({"code": {"text": "opioid problem"}}, NotApplicable),  # uncoded: no rule can match
        ({"subject": {"reference": "Group/g1"}}, MappingError),
    ],
    ids=["refuted", "entered-in-error", "uncoded", "no-patient"],
)
def test_condition_mapper_skips(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        to_condition({**_condition("F11.20"), **change})


# ---- the rule ------------------------------------------------------------------------------


def test_active_oud_without_moud_is_high_with_the_diagnosis_as_evidence() -> None:
    [finding] = assess_oud_untreated(_patient(to_condition(_condition("F11.20"))), as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "oud-untreated",
        "high",
        "coordination",
    )
    assert (
        finding.summary == "Opioid use disorder without MOUD in the last 90 days: offer treatment"
    )
    assert finding.evidence == ("Condition/c1",)
    assert finding.implicated == ()
    assert "No MOUD is on record." in finding.detail
    assert "recommendation 12" in finding.authority


@pytest.mark.parametrize(
    ("code", "system", "fires"),
    [
        ("F11.20", ICD, True),
        ("F1120", ICD, True),  # sent without the dot
        ("F11.10", ICD, True),  # opioid abuse
        ("F11.21", ICD, False),  # in remission: excluded by default
        ("F10.20", ICD, False),  # alcohol dependence
        ("75544000", SCT, True),  # opioid dependence (disorder)
        ("191821007", SCT, False),  # opioid dependence in remission
        ("87132004", SCT, False),  # opioid withdrawal: in the CDC set, not a use disorder
    ],
)
def test_which_codes_are_opioid_use_disorder(code: str, system: str, fires: bool) -> None:
    records = _patient(to_condition(_condition(code, system)))
    assert bool(assess_oud_untreated(records, as_of=AS_OF)) is fires


def test_remission_can_be_included() -> None:
    records = _patient(to_condition(_condition("F11.21")))
    params = OudUntreatedParams(include_remission=True)
    assert len(assess_oud_untreated(records, as_of=AS_OF, params=params)) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"clinicalStatus": {"coding": [{"code": "resolved"}]}},
        {"clinicalStatus": {"coding": [{"code": "remission"}]}},
        {"abatementDateTime": "2025-01-15"},
        {"onsetDateTime": "2025-06-01"},  # after as_of
    ],
    ids=["resolved", "remission-status", "abated", "future-onset"],
)
def test_inactive_diagnoses_do_not_fire(fields: dict[str, Any]) -> None:
    records = _patient(to_condition(_condition("F11.20", **fields)))
    assert assess_oud_untreated(records, as_of=AS_OF) == []


@pytest.mark.parametrize(
    "treatment",
    [
        order("bup", BUP_NAL, date(2024, 12, 20), 28, "Practitioner/add"),  # to 2025-01-16
        statement("otp", METHADONE, date(2024, 1, 1)),  # OTP methadone, reported, active
        order("inj", "naltrexone 380 MG Injectable Suspension", date(2025, 3, 1), None, None),
    ],
    ids=["buprenorphine-in-window", "otp-methadone-statement", "naltrexone-no-days-supply"],
)
def test_treatment_in_the_lookback_prevents_the_finding(treatment: MedicationEvent) -> None:
    records = _patient(to_condition(_condition("F11.20")), treatment)
    assert assess_oud_untreated(records, as_of=AS_OF) == []


def test_lapsed_treatment_is_implicated_so_a_new_lapse_is_a_new_key() -> None:
    # Bup 2024-11-01 x60 ended 2024-12-30: before the window. The last order is implicated.
    lapsed = order("bup", BUP_NAL, date(2024, 11, 1), 60, "Practitioner/add", status="completed")
    [finding] = assess_oud_untreated(
        _patient(to_condition(_condition("F11.20")), lapsed), as_of=AS_OF
    )
    assert finding.implicated == ("MedicationRequest/bup",)
    assert finding.prescribers == ("Practitioner/add",)
    assert "The last MOUD on record started on 2024-11-01 and has lapsed." in finding.detail


def test_pain_patch_and_rescue_naloxone_are_not_treatment() -> None:
    records = _patient(
        to_condition(_condition("F11.20")),
        order("patch", PATCH, date(2025, 3, 1), 28, "Practitioner/pcp"),
        order("nlx", NALOXONE, date(2025, 3, 1), 30, "Practitioner/pcp"),
    )
    assert len(assess_oud_untreated(records, as_of=AS_OF)) == 1


# ---- no findings about a patient who has died ----------------------------------------------


@pytest.mark.parametrize(
    ("fields", "deceased"),
    [
        ({"deceasedDateTime": "2025-02-01T10:00:00+00:00"}, date(2025, 2, 1)),
        ({"deceasedBoolean": True}, date.min),  # date unknown: before any as_of
        ({"deceasedBoolean": False}, None),
        ({}, None),
    ],
    ids=["date", "boolean", "alive", "unknown"],
)
def test_vital_status(fields: dict[str, Any], deceased: date | None) -> None:
    status = to_vital_status({"resourceType": "Patient", "id": "p1", **fields})
    assert (status.patient, status.deceased) == ("Patient/p1", deceased)


@pytest.mark.parametrize(
    ("died", "findings"), [(date(2025, 3, 31), 0), (date(2025, 4, 1), 1), (None, 1)]
)
def test_analysis_raises_nothing_about_a_patient_who_died(died: date | None, findings: int) -> None:
    records = replace(_patient(to_condition(_condition("F11.20"))), deceased=died)
    assert len(analyze_patient(records, as_of=AS_OF).findings) == findings
