"""Unit tests: the write-back plan over a finding's lifecycle (pure).

Dates are the store's (first seen, episode start, resolved on), never the run's: planning the
same states again gives the same writes, so a later run neither re-opens nor forgets a resolved
finding. Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.writeback.build import validate
from fhirbridge.writeback.bundle import detected_issue_url
from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions, plan_writes

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
D1, D2, D3, D4, D5 = (
    date(2026, 6, 30),
    date(2026, 7, 31),
    date(2026, 8, 31),
    date(2026, 9, 30),
    date(2026, 10, 31),
)


def finding(rule: str, implicated: str, *, as_of: date = D1, summary: str = "") -> Finding:
    adherence = rule == "pdc-below-threshold"
    return Finding(
        rule=rule,
        category=Category.ADHERENCE if adherence else Category.SAFETY,
        severity=Severity.HIGH,
        patient="Patient/p1",
        summary=summary or f"{rule} summary",
        detail="detail",
        implicated=(implicated,),
        authority="PQA PDC" if adherence else "FDA DSC 2016",
        as_of=as_of,
    )


PDC = finding("pdc-below-threshold", "MedicationRequest/bup")
PDC_2 = finding("pdc-below-threshold", "MedicationRequest/ser")
OB = finding("opioid-benzodiazepine", "MedicationRequest/alp")


def by_type(writes: list[PlannedWrite]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for write in writes:
        found.setdefault(write.resource_type, []).append(write.resource)
    return found


def test_open_findings_plan_issue_flag_and_care_plan_in_dependency_order() -> None:
    writes = plan_writes(
        [
            FindingState(finding=PDC, first_seen=D1, opened_on=D1),
            FindingState(finding=OB, first_seen=D1, opened_on=D1),
        ],
        WriteOptions(device="Device/fb", security=("PSY",)),
    )
    # rule order: opioid-benzodiazepine < pdc-below-threshold; then the Flag; the CarePlan last.
    assert [(w.resource_type, w.rule) for w in writes] == [
        ("DetectedIssue", "opioid-benzodiazepine"),
        ("DetectedIssue", "pdc-below-threshold"),
        ("Flag", None),
        ("CarePlan", None),
    ]
    flag, plan = writes[2], writes[3]
    # The interaction gets no Flag (build.FLAG_CONCERNS); the Flag refers to the PDC issue only.
    assert flag.depends_on == (("DetectedIssue", "urn:fhirbridge:finding", PDC.key),)
    assert flag.resource["status"] == "active"
    assert flag.resource["period"] == {"start": "2026-06-30"}
    assert flag.resource["extension"][0]["valueReference"] == {
        "reference": detected_issue_url(PDC.key)
    }
    assert sorted(plan.depends_on) == sorted(
        ("DetectedIssue", "urn:fhirbridge:finding", f.key) for f in (PDC, OB)
    )
    assert plan.resource["status"] == "active"
    assert [a["detail"]["status"] for a in plan.resource["activity"]] == ["not-started"] * 2
    assert all("mitigation" not in w.resource for w in writes[:2])
    assert writes[0].resource["meta"]["security"] == [
        {"system": ACT, "code": "PSY", "display": "psychiatry disorder information sensitivity"}
    ]
    for write in writes:
        validate(write.resource)


def test_a_resolved_finding_is_planned_the_same_on_every_later_run() -> None:
    # Found on D1 (last seen D2), resolved on D3: mitigation dated D3 whatever day we plan on.
    seen_last = finding("pdc-below-threshold", "MedicationRequest/bup", as_of=D2)
    state = FindingState(finding=seen_last, first_seen=D1, opened_on=D1, resolved_on=D3)
    first, again = plan_writes([state]), plan_writes([state])
    assert first == again
    issue, flag, plan = (w.resource for w in first)
    assert issue["identifiedDateTime"] == "2026-06-30"  # first seen, not last seen
    assert issue["mitigation"] == [
        {
            "action": {
                "coding": [{"system": ACT, "code": "8", "display": "Other Action Taken"}],
                "text": "No longer present when fhirbridge re-evaluated the record",
            },
            "date": "2026-08-31",
            "author": {"reference": "Device/fhirbridge"},
        }
    ]
    assert (flag["status"], flag["period"]) == (
        "inactive",
        {"start": "2026-06-30", "end": "2026-08-31"},
    )
    assert plan["status"] == "completed"
    assert plan["activity"][0]["detail"]["status"] == "completed"


def test_a_finding_that_returns_reuses_every_identifier_and_restarts_the_flag() -> None:
    gone = FindingState(finding=PDC, first_seen=D1, opened_on=D1, resolved_on=D2)
    back = FindingState(finding=PDC, first_seen=D1, opened_on=D4)  # found again on D4
    before, after = plan_writes([gone]), plan_writes([back])
    assert [w.key for w in after] == [w.key for w in before]  # same resources, never new ones
    issue, flag, plan = (w.resource for w in after)
    assert "mitigation" not in issue
    assert issue["identifiedDateTime"] == "2026-06-30"
    # Active again from the day it returned: the Flag was not active between D2 and D4.
    assert (flag["status"], flag["period"]) == ("active", {"start": "2026-09-30"})
    assert plan["status"] == "active"


def test_the_flag_period_is_the_concerns_latest_continuous_stretch() -> None:
    # PDC_2 opened on D3 while PDC (D1, resolved D4) still held: one stretch from D1; the Flag
    # names only what still holds.
    overlapping = [
        FindingState(finding=PDC, first_seen=D1, opened_on=D1, resolved_on=D4),
        FindingState(finding=PDC_2, first_seen=D3, opened_on=D3),
    ]
    flag = by_type(plan_writes(overlapping))["Flag"][0]
    assert (flag["status"], flag["period"]) == ("active", {"start": "2026-06-30"})
    assert [i["value"] for i in flag["identifier"][1:]] == [PDC_2.key]
    # PDC [D1, D2) and PDC_2 [D3, D5): a gap, so the latest stretch is PDC_2's alone.
    apart = [
        FindingState(finding=PDC, first_seen=D1, opened_on=D1, resolved_on=D2),
        FindingState(finding=PDC_2, first_seen=D3, opened_on=D3, resolved_on=D5),
    ]
    flag = by_type(plan_writes(apart))["Flag"][0]
    assert (flag["status"], flag["period"]) == (
        "inactive",
        {"start": "2026-08-31", "end": "2026-10-31"},
    )
    assert [e["valueReference"]["reference"] for e in flag["extension"]] == [
        detected_issue_url(PDC_2.key)
    ]


def test_patients_are_planned_separately_and_in_order() -> None:
    other = Finding(**{**_fields(PDC), "patient": "Patient/p0"})
    writes = plan_writes(
        [
            FindingState(finding=PDC, first_seen=D1, opened_on=D1),
            FindingState(finding=other, first_seen=D1, opened_on=D1),
        ]
    )
    assert [w.patient for w in writes] == ["Patient/p0"] * 3 + ["Patient/p1"] * 3
    assert [
        w.resource["identifier"][0]["value"] for w in writes if w.resource_type != "DetectedIssue"
    ] == ["p0:medication-adherence", "p0", "p1:medication-adherence", "p1"]


def _fields(f: Finding) -> dict[str, Any]:
    return {
        k: getattr(f, k)
        for k in (
            "rule",
            "category",
            "severity",
            "patient",
            "summary",
            "detail",
            "implicated",
            "authority",
            "as_of",
        )
    }
