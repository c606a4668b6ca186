"""Unit tests: write-back builders and the transaction Bundle (pure; R4B validation included).

Expected codes and displays are written out here on purpose, copied from
reference/codes-verified.md sections 5 and 6, not imported from the module under test.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.writeback import build
from fhirbridge.writeback.build import (
    build_care_plan,
    build_detected_issue,
    build_flag,
    build_provenance,
    concern_of,
    validate,
)
from fhirbridge.writeback.bundle import (
    conditional_create_entry,
    conditional_update_entry,
    detected_issue_url,
    entry_for,
    full_url,
    transaction_bundle,
)

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
AS_OF = date(2025, 3, 31)
META = {
    "tag": [
        {"system": "urn:fhirbridge:tag", "code": "fhirbridge", "display": "Written by fhirbridge"}
    ],
    "security": [
        {"system": ACT, "code": "PSY", "display": "psychiatry disorder information sensitivity"},
        {"system": ACT, "code": "ETH", "display": "substance abuse information sensitivity"},
    ],
}
# codes-verified.md section 5 (v3 ActCode) and section 6 (flag-category): the only codes allowed.
VERIFIED_ACTCODE = {
    "DRG": "Drug Interaction Alert",
    "DUPTHPY": "Duplicate Therapy Alert",
    "COMPLY": "Compliance Alert",
    "CAREGAP": "Caregap",
    "PSY": "psychiatry disorder information sensitivity",
    "ETH": "substance abuse information sensitivity",
    "7": "Interacting Therapy No Longer Active/Planned",
    "8": "Other Action Taken",
}
VERIFIED_FLAG_CATEGORY = {
    "drug": "Drug",
    "lab": "Lab",
    "safety": "Safety",
    "clinical": "Clinical",
    "behavioral": "Behavioral",
}

# rule → (DetectedIssue code, Flag concern or None, flag-category or None): the chosen tables.
RULES = [
    ("pdc-below-threshold", "COMPLY", "medication-adherence", "drug"),
    ("refill-overdue", "COMPLY", "medication-adherence", "drug"),
    ("moud-gap", "COMPLY", "medication-adherence", "drug"),
    ("opioid-benzodiazepine", "DRG", None, None),
    ("opioid-gabapentinoid", "DRG", None, None),
    ("opioid-sedative-hypnotic", "DRG", None, None),
    ("naltrexone-opioid", "DRG", None, None),
    ("serotonergic-maoi", "DRG", None, None),
    ("serotonergic-opioid", "DRG", None, None),
    ("naloxone-missing", "CAREGAP", "overdose-risk", "safety"),
    ("duplicate-therapy", "DUPTHPY", None, None),
    ("multiple-prescribers", "COMPLY", "prescriber-coordination", "drug"),
    ("medication-list-discrepancy", "COMPLY", None, None),
    ("oud-untreated", "CAREGAP", "overdose-risk", "safety"),
    ("uds-unexpected-negative", "COMPLY", "substance-use-monitoring", "lab"),
    ("uds-unexpected-positive", "COMPLY", "substance-use-monitoring", "lab"),
    ("phq9-worsening", "CAREGAP", None, None),
    ("phq9-suicidality", "CAREGAP", "suicide-risk", "safety"),
    ("methadone-qt", "DRG", None, None),
]


def make(
    rule: str = "opioid-benzodiazepine", patient: str = "Patient/p1", **fields: Any
) -> Finding:
    values: dict[str, Any] = {
        "category": Category.SAFETY,
        "severity": Severity.HIGH,
        "summary": f"Summary of {rule}",
        "detail": f"Detail of **{rule}**.",
        "implicated": ("MedicationRequest/oxy-1", "MedicationRequest/alp-2"),
        "authority": "FDA Drug Safety Communication, 2016-08-31",
        "as_of": AS_OF,
    }
    values.update(fields)
    return Finding(rule=rule, patient=patient, **values)


OPIOID_BENZO = make(
    summary="Opioid and benzodiazepine prescribed together by two prescribers",
    detail="Oxycodone and alprazolam overlap since 2025-03-01.",
    evidence=("Observation/uds-9",),
    prescribers=("Practitioner/b", "Practitioner/a"),
)
PDC = make(
    "pdc-below-threshold",
    category=Category.ADHERENCE,
    severity=Severity.MODERATE,
    summary="Buprenorphine PDC 0.62 (threshold 0.80)",
    implicated=("MedicationDispense/d1",),
    authority="https://www.pqaalliance.org/adherence-measures",
)
MOUD_GAP = make(
    "moud-gap",
    category=Category.ADHERENCE,
    summary="MOUD gap of 12 days",
    implicated=("MedicationDispense/d2",),
)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


# --- DetectedIssue -----------------------------------------------------------------------------


def test_detected_issue_exact() -> None:
    assert build_detected_issue(OPIOID_BENZO) == {
        "resourceType": "DetectedIssue",
        "meta": META,
        "identifier": [{"system": "urn:fhirbridge:finding", "value": OPIOID_BENZO.key}],
        "status": "final",
        "code": {
            "coding": [
                {"system": ACT, "code": "DRG", "display": "Drug Interaction Alert"},
                {"system": "urn:fhirbridge:rule", "code": "opioid-benzodiazepine"},
            ],
            "text": "Drug Interaction Alert",
        },
        "severity": "high",
        "patient": {"reference": "Patient/p1"},
        "identifiedDateTime": "2025-03-31",
        "author": {"reference": "Device/fhirbridge"},
        "implicated": [
            {"reference": "MedicationRequest/alp-2"},
            {"reference": "MedicationRequest/oxy-1"},
        ],
        "evidence": [{"detail": [{"reference": "Observation/uds-9"}]}],
        "detail": "Opioid and benzodiazepine prescribed together by two prescribers\n\n"
        "Oxycodone and alprazolam overlap since 2025-03-01.\n\n"
        "Source: FDA Drug Safety Communication, 2016-08-31",
    }


@pytest.mark.parametrize(
    ("rule", "code", "action"),
    [
        ("opioid-benzodiazepine", "DRG", "7"),
        ("duplicate-therapy", "DUPTHPY", "7"),
        ("pdc-below-threshold", "COMPLY", "8"),
        ("naloxone-missing", "CAREGAP", "8"),
    ],
)
def test_resolved_detected_issue_records_mitigation(rule: str, code: str, action: str) -> None:
    issue = build_detected_issue(make(rule), resolved_on=date(2025, 4, 2), device="Device/fb-2")
    assert issue["code"]["coding"][0]["code"] == code
    assert issue["status"] == "final"
    assert issue["mitigation"] == [
        {
            "action": {
                "coding": [{"system": ACT, "code": action, "display": VERIFIED_ACTCODE[action]}],
                "text": "No longer present when fhirbridge re-evaluated the record",
            },
            "date": "2025-04-02",
            "author": {"reference": "Device/fb-2"},
        }
    ]
    validate(issue)


@pytest.mark.parametrize(("rule", "code", "concern", "category"), RULES)
def test_rule_tables(rule: str, code: str, concern: str | None, category: str | None) -> None:
    issue = build_detected_issue(make(rule))
    assert issue["code"]["coding"][0] == {
        "system": ACT,
        "code": code,
        "display": VERIFIED_ACTCODE[code],
    }
    validate(issue)
    validate(build_detected_issue(make(rule), resolved_on=AS_OF))
    found = concern_of(rule)
    assert (found.id if found else None, found.category if found else None) == (concern, category)


def test_tables_cover_exactly_the_contract_rules() -> None:
    assert set(build.DETECTED_ISSUE_CODES) == {rule for rule, *_ in RULES}
    assert set(build.FLAG_CONCERNS) <= set(build.DETECTED_ISSUE_CODES)


def test_unknown_rule_lists_valid_rules() -> None:
    with pytest.raises(ValueError, match=r"unknown rule 'no-such-rule'; valid: .*moud-gap"):
        build_detected_issue(make("no-such-rule"))
    with pytest.raises(ValueError, match="unknown rule"):
        concern_of("no-such-rule")
    with pytest.raises(ValueError, match="unknown rule"):
        build_care_plan("Patient/p1", [make("no-such-rule")], as_of=AS_OF)


def test_security_labels_configurable() -> None:
    assert build_detected_issue(OPIOID_BENZO, security=())["meta"] == {"tag": META["tag"]}
    assert build_detected_issue(OPIOID_BENZO, security=("ETH",))["meta"]["security"] == [
        META["security"][1]
    ]
    with pytest.raises(ValueError, match="unknown security label 'R'"):
        build_detected_issue(OPIOID_BENZO, security=("R",))


def test_url_authority_goes_to_reference_and_empty_lists_are_dropped() -> None:
    issue = build_detected_issue(
        make(
            "oud-untreated",
            implicated=(),
            authority="https://www.cdc.gov/mmwr/volumes/71/rr/rr7103a1.htm",
        )
    )
    assert issue["reference"] == "https://www.cdc.gov/mmwr/volumes/71/rr/rr7103a1.htm"
    assert issue["detail"] == "Summary of oud-untreated\n\nDetail of **oud-untreated**."
    assert "implicated" not in issue
    assert "evidence" not in issue
    validate(issue)


def test_detected_issue_strings_come_only_from_the_finding() -> None:
    finding = OPIOID_BENZO
    issue = build_detected_issue(finding, resolved_on=AS_OF)
    from_finding = {
        finding.key,
        finding.rule,
        finding.patient,
        finding.severity.value,
        finding.as_of.isoformat(),
        *finding.implicated,
        *finding.evidence,
    }
    fixed = {
        "DetectedIssue",
        "final",
        "Device/fhirbridge",
        ACT,
        "urn:fhirbridge:tag",
        "fhirbridge",
        "Written by fhirbridge",
        "urn:fhirbridge:finding",
        "urn:fhirbridge:rule",
        "No longer present when fhirbridge re-evaluated the record",
        *VERIFIED_ACTCODE,
        *VERIFIED_ACTCODE.values(),
    }
    detail = f"{finding.summary}\n\n{finding.detail}\n\nSource: {finding.authority}"
    assert set(strings(issue)) <= from_finding | fixed | {detail}
    assert not any("Practitioner" in text for text in strings(issue))  # prescribers: not written


# --- Flag -------------------------------------------------------------------------------------

FLAG_EXPECTED = {
    "resourceType": "Flag",
    "meta": META,
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/flag-detail",
            "valueReference": {"reference": detected_issue_url(PDC.key)},
        }
    ],
    "identifier": [
        {"system": "urn:fhirbridge:flag", "value": "p1:medication-adherence"},
        {"system": "urn:fhirbridge:finding", "value": PDC.key},
    ],
    "status": "active",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                    "code": "drug",
                    "display": "Drug",
                }
            ]
        }
    ],
    "code": {
        "coding": [
            {
                "system": "urn:fhirbridge:concern",
                "code": "medication-adherence",
                "display": "Medication adherence concern",
            }
        ],
        "text": "Medication adherence concern",
    },
    "subject": {"reference": "Patient/p1"},
    "period": {"start": "2025-03-01"},
    "author": {"reference": "Device/fhirbridge"},
}


def test_flag_active_exact() -> None:
    flag = build_flag(
        "Patient/p1",
        "medication-adherence",
        [PDC],
        detected_issue_refs=[detected_issue_url(PDC.key)],
        start=date(2025, 3, 1),
    )
    assert flag == FLAG_EXPECTED
    validate(flag)


def test_flag_inactive_exact() -> None:
    flag = build_flag(
        "Patient/p1",
        "medication-adherence",
        [PDC],
        detected_issue_refs=[detected_issue_url(PDC.key)],
        start=date(2025, 3, 1),
        end=date(2025, 4, 2),
    )
    assert flag == {
        **FLAG_EXPECTED,
        "status": "inactive",
        "period": {"start": "2025-03-01", "end": "2025-04-02"},
    }
    validate(flag)


def test_flag_one_per_concern_holds_several_findings() -> None:
    refs = [detected_issue_url(MOUD_GAP.key), detected_issue_url(PDC.key)]
    flag = build_flag(
        "Patient/p1", "medication-adherence", [PDC, MOUD_GAP], detected_issue_refs=refs, start=AS_OF
    )
    assert flag["identifier"][0] == {
        "system": "urn:fhirbridge:flag",
        "value": "p1:medication-adherence",
    }
    assert [e["valueReference"]["reference"] for e in flag["extension"]] == sorted(refs)
    assert [i["value"] for i in flag["identifier"][1:]] == [MOUD_GAP.key, PDC.key]  # rule order


@pytest.mark.parametrize(
    ("rule", "code", "concern", "category"), [row for row in RULES if row[2] is not None]
)
def test_flag_for_every_concern_validates(
    rule: str, code: str, concern: str, category: str
) -> None:
    finding = make(rule)
    flag = build_flag(
        "Patient/p1", concern, [finding], detected_issue_refs=["DetectedIssue/1"], start=AS_OF
    )
    coding = flag["category"][0]["coding"][0]
    assert (coding["code"], coding["display"]) == (category, VERIFIED_FLAG_CATEGORY[category])
    validate(flag)


@pytest.mark.parametrize(
    ("concern", "findings", "end", "message"),
    [
        (
            "no-such-concern",
            [PDC],
            None,
            "unknown concern 'no-such-concern'; valid: .*suicide-risk",
        ),
        (
            "medication-adherence",
            [OPIOID_BENZO],
            None,
            "is not medication-adherence",
        ),  # DRG: no Flag
        ("medication-adherence", [make("moud-gap", patient="Patient/p2")], None, "is not"),
        ("medication-adherence", [], None, "needs at least one finding"),
        ("medication-adherence", [PDC], date(2025, 2, 1), "end is before its start"),
    ],
)
def test_flag_rejects(
    concern: str, findings: list[Finding], end: date | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_flag(
            "Patient/p1", concern, findings, detected_issue_refs=[], start=date(2025, 3, 1), end=end
        )


def test_flag_text_is_generic() -> None:
    flag = build_flag(
        "Patient/p1", "medication-adherence", [PDC], detected_issue_refs=[], start=AS_OF
    )
    assert "extension" not in flag  # no empty arrays in FHIR JSON
    assert not any(PDC.summary in text or "PDC" in text for text in strings(flag))


# --- CarePlan ---------------------------------------------------------------------------------


def test_care_plan_exact() -> None:
    refs = {
        OPIOID_BENZO.key: detected_issue_url(OPIOID_BENZO.key),
        PDC.key: detected_issue_url(PDC.key),
    }
    plan = build_care_plan(
        "Patient/p1",
        [PDC, OPIOID_BENZO],
        as_of=AS_OF,
        detected_issue_refs=refs,
        closed=[(MOUD_GAP, "completed")],
    )
    heading = "Open medication-management findings: 2"
    assert plan == {
        "resourceType": "CarePlan",
        "meta": META,
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
            f"<p>{heading}</p><ul>"
            "<li>[completed] MOUD gap of 12 days</li>"
            "<li>Opioid and benzodiazepine prescribed together by two prescribers</li>"
            "<li>Buprenorphine PDC 0.62 (threshold 0.80)</li></ul></div>",
        },
        "identifier": [{"system": "urn:fhirbridge:careplan", "value": "p1"}],
        "status": "active",
        "intent": "proposal",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                        "code": "assess-plan",
                        "display": "Assessment and Plan of Treatment",
                    }
                ]
            }
        ],
        "title": "Medication management follow-up (fhirbridge)",
        "description": heading,
        "subject": {"reference": "Patient/p1"},
        "author": {"reference": "Device/fhirbridge"},
        "supportingInfo": [{"reference": refs[OPIOID_BENZO.key]}, {"reference": refs[PDC.key]}],
        "activity": [
            {
                "detail": {
                    "code": {
                        "coding": [{"system": "urn:fhirbridge:rule", "code": rule}],
                        "text": rule,
                    },
                    "status": status,
                    "description": summary,
                }
            }
            for rule, status, summary in [
                ("moud-gap", "completed", "MOUD gap of 12 days"),
                (
                    "opioid-benzodiazepine",
                    "not-started",
                    "Opioid and benzodiazepine prescribed together by two prescribers",
                ),
                ("pdc-below-threshold", "not-started", "Buprenorphine PDC 0.62 (threshold 0.80)"),
            ]
        ],
    }
    validate(plan)


def test_care_plan_does_not_change_with_the_day_alone() -> None:
    # The publisher skips unchanged content: re-evaluating the same findings a day later must
    # give the same CarePlan, or every patient's plan would be rewritten every day.
    today = build_care_plan("Patient/p1", [PDC], as_of=AS_OF)
    assert build_care_plan("Patient/p1", [PDC], as_of=date(2025, 4, 30)) == today


def test_care_plan_without_open_findings_is_completed() -> None:
    plan = build_care_plan("Patient/p1", [], as_of=AS_OF, closed=[(PDC, "cancelled")])
    assert plan["status"] == "completed"
    assert "supportingInfo" not in plan
    assert [a["detail"]["status"] for a in plan["activity"]] == ["cancelled"]
    validate(plan)


@pytest.mark.parametrize(
    ("findings", "closed", "message"),
    [
        ([make("moud-gap", patient="Patient/p2")], [], "is not of Patient/p1"),
        ([], [(PDC, "done")], "activity status 'done'"),
        ([make("moud-gap", as_of=date(2025, 4, 1))], [], "dated after as_of 2025-03-31"),
    ],
)
def test_care_plan_rejects(
    findings: list[Finding], closed: list[tuple[Finding, str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_care_plan("Patient/p1", findings, as_of=AS_OF, closed=closed)


def test_care_plan_narrative_escapes_and_adds_nothing() -> None:
    nasty = make("phq9-worsening", summary='PHQ-9 up 6 points <script>alert("x")</script> & more')
    plan = build_care_plan("Patient/p1", [nasty], as_of=AS_OF)
    div = plan["text"]["div"]
    assert "<script>" not in div
    items = [html.unescape(text) for text in re.findall(r"<li>(.*?)</li>", div)]
    assert items == [nasty.summary]
    assert plan["activity"][0]["detail"]["description"] == nasty.summary
    validate(plan)


# --- Provenance, validate ---------------------------------------------------------------------


def test_provenance() -> None:
    targets = [detected_issue_url(PDC.key), "Flag/f1"]
    prov = build_provenance(
        targets, recorded="2025-03-31T02:00:00+02:00", on_behalf_of="Organization/clinic"
    )
    assert prov["agent"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": "author",
                        "display": "Author",
                    }
                ]
            },
            "who": {"reference": "Device/fhirbridge"},
            "onBehalfOf": {"reference": "Organization/clinic"},
        }
    ]
    assert prov["target"] == [{"reference": "Flag/f1"}, {"reference": targets[0]}]
    key_tag = prov["meta"]["tag"][1]
    assert key_tag["system"] == "urn:fhirbridge:provenance"
    assert len(key_tag["code"]) == 32
    assert (
        build_provenance(
            list(reversed(targets)),
            recorded="2025-03-31T02:00:00+02:00",
            on_behalf_of="Organization/clinic",
        )
        == prov
    )
    validate(prov)
    with pytest.raises(ValueError, match="at least one target"):
        build_provenance([], recorded="2025-03-31T02:00:00+02:00")


def test_validate_names_the_path_but_not_the_value() -> None:
    issue = build_detected_issue(OPIOID_BENZO)
    issue["identifiedDateTime"] = "2025-31-03 secret"
    issue["bogus"] = "another secret"
    with pytest.raises(ValueError, match="identifiedDateTime") as caught:
        validate(issue)
    assert "DetectedIssue.bogus: extra_forbidden" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    with pytest.raises(ValueError, match="not a FHIR R4B resourceType: 'Nope'"):
        validate({"resourceType": "Nope"})


# --- Bundle -----------------------------------------------------------------------------------


def writeback_bundle() -> dict[str, Any]:
    issues = [build_detected_issue(f) for f in (PDC, MOUD_GAP, OPIOID_BENZO)]
    resolved = build_detected_issue(make("refill-overdue"), resolved_on=AS_OF)
    flag = build_flag(
        "Patient/p1",
        "medication-adherence",
        [PDC, MOUD_GAP],
        detected_issue_refs=[detected_issue_url(f.key) for f in (PDC, MOUD_GAP)],
        start=date(2025, 3, 1),
    )
    plan = build_care_plan(
        "Patient/p1",
        [PDC, MOUD_GAP, OPIOID_BENZO],
        as_of=AS_OF,
        detected_issue_refs={
            f.key: detected_issue_url(f.key) for f in (PDC, MOUD_GAP, OPIOID_BENZO)
        },
    )
    entries = [entry_for(r) for r in (*issues, resolved, flag, plan)]
    prov = build_provenance([e["fullUrl"] for e in entries], recorded="2025-03-31T02:00:00Z")
    return transaction_bundle([*entries, entry_for(prov)])


def test_bundle_entries_are_conditional_and_keyed() -> None:
    bundle = writeback_bundle()
    requests = [(e["resource"]["resourceType"], e["request"]) for e in bundle["entry"]]
    finding = "identifier=urn:fhirbridge:finding|"
    # DetectedIssues change in place (a mitigation comes and goes with the finding's lifecycle),
    # so open and resolved ones alike are conditional updates.
    assert requests[0] == (
        "DetectedIssue",
        {"method": "PUT", "url": "DetectedIssue?" + finding + PDC.key},
    )
    assert requests[3] == (
        "DetectedIssue",
        {"method": "PUT", "url": "DetectedIssue?" + finding + make("refill-overdue").key},
    )
    flag_url = "Flag?identifier=urn:fhirbridge:flag|p1:medication-adherence"
    assert requests[4] == ("Flag", {"method": "PUT", "url": flag_url})
    assert requests[5] == (
        "CarePlan",
        {"method": "PUT", "url": "CarePlan?identifier=urn:fhirbridge:careplan|p1"},
    )
    assert requests[6][1]["method"] == "POST"
    assert requests[6][1]["ifNoneExist"].startswith("_tag=urn:fhirbridge:provenance|")
    assert bundle["type"] == "transaction"
    validate(bundle)


def test_bundle_is_deterministic() -> None:
    first, second = writeback_bundle(), writeback_bundle()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    # Pinned: writeback-bundle.json must come out byte-identical on every run and machine (uuid5
    # of a fixed namespace, never uuid4), so reviewers can diff it.
    assert full_url("urn:fhirbridge:finding", "0" * 32) == (
        "urn:uuid:56afceef-534e-5f2d-9a89-8376af93ed9b"
    )


def test_bundle_rejects_dangling_and_duplicate_entries() -> None:
    flag = build_flag(
        "Patient/p1",
        "medication-adherence",
        [PDC],
        detected_issue_refs=[detected_issue_url(PDC.key)],
        start=AS_OF,
    )
    with pytest.raises(ValueError, match=r"entry\[0\] refers to urn:uuid:.*not in the bundle"):
        transaction_bundle([entry_for(flag)])
    issue = entry_for(build_detected_issue(PDC))
    with pytest.raises(ValueError, match="entries written twice"):
        transaction_bundle([issue, issue])


def test_entry_helpers_check_the_key() -> None:
    issue = build_detected_issue(PDC)
    with pytest.raises(ValueError, match="does not carry the key"):
        conditional_create_entry(issue, "urn:fhirbridge:finding", "other")
    with pytest.raises(ValueError, match="must not have an id"):
        conditional_update_entry({**issue, "id": "x"}, "urn:fhirbridge:finding", PDC.key)
    with pytest.raises(ValueError, match="does not write 'Patient'"):
        entry_for({"resourceType": "Patient"})
    assert conditional_update_entry(issue, "urn:fhirbridge:finding", PDC.key)["fullUrl"] == (
        detected_issue_url(PDC.key)
    )
