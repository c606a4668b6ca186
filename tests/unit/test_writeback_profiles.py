"""Unit tests: target profiles (registry, options, what each plans) and the notice builders.

Codes in the expected resources are written out here, copied from the sources that
writeback/build_notice.py names, not imported from it.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import pytest

from fhirbridge import cli_options, settings
from fhirbridge.errors import ConfigError
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.settings import Connection, Settings
from fhirbridge.workflow import _profile, _validated
from fhirbridge.writeback import PROFILES, load_profile
from fhirbridge.writeback.build import validate
from fhirbridge.writeback.build_notice import build_communication, build_document_reference
from fhirbridge.writeback.plan import FindingState, WriteOptions, plan_writes

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
META = {
    "tag": [
        {"system": "urn:fhirbridge:tag", "code": "fhirbridge", "display": "Written by fhirbridge"}
    ],
    "security": [
        {"system": ACT, "code": "PSY", "display": "psychiatry disorder information sensitivity"},
        {"system": ACT, "code": "ETH", "display": "substance abuse information sensitivity"},
    ],
}
D1, D2 = date(2026, 6, 30), date(2026, 8, 31)
OB = Finding(
    rule="opioid-benzodiazepine",
    category=Category.SAFETY,
    severity=Severity.HIGH,
    patient="Patient/p1",
    summary="Opioid (oxycodone) and benzodiazepine (alprazolam) supplies overlap",
    detail="Overlap on **21** day(s).",
    implicated=("MedicationRequest/oxy", "MedicationRequest/alp"),
    prescribers=("Practitioner/psy", "Practitioner/pain"),
    authority="FDA Drug Safety Communication 2016-08-31",
    as_of=D1,
)
PDC = Finding(
    rule="pdc-below-threshold",
    category=Category.ADHERENCE,
    severity=Severity.MODERATE,
    patient="Patient/p1",
    summary="Antidepressant adherence below 80%: PDC 0.62",
    detail="PDC detail.",
    implicated=("MedicationRequest/ser",),
    authority="https://www.pqaalliance.org/adherence-measures",
    as_of=D1,
)
OPTIONS = WriteOptions()


# --- registry and options ---------------------------------------------------------------------


def test_the_registry_cli_and_settings_name_the_same_targets() -> None:
    assert list(PROFILES) == ["bundle-file", "fhir-full", "ehr-restricted", "none"]
    assert set(cli_options.TARGETS) == set(settings.TARGETS) == set(PROFILES)
    for name in PROFILES:
        assert load_profile(name).name == name
    with pytest.raises(ValueError, match="unknown target 'epic'; valid: bundle-file, fhir-full"):
        load_profile("epic")


@pytest.mark.parametrize(
    ("name", "sends", "bundle", "create_only", "types"),
    [
        ("fhir-full", True, True, False, {"DetectedIssue", "Flag", "CarePlan"}),
        ("ehr-restricted", True, True, True, {"DocumentReference"}),
        ("bundle-file", False, True, False, {"DetectedIssue", "Flag", "CarePlan"}),
        ("none", False, False, False, set()),
    ],
)
def test_what_each_profile_does(
    name: str, sends: bool, bundle: bool, create_only: bool, types: set[str]
) -> None:
    profile = load_profile(name)
    assert (profile.sends, profile.bundle_file, profile.create_only) == (sends, bundle, create_only)
    assert profile.resource_types == types
    states = [FindingState(finding=f, first_seen=D1, opened_on=D1) for f in (OB, PDC)]
    planned = {w.resource_type for w in profile.plan(states, OPTIONS, written=frozenset())}
    assert planned == types


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        (
            "fhir-full",
            {"colour": "red"},
            "colour: unknown option; valid: exclude_rules, provenance",
        ),
        (
            "fhir-full",
            {"rules": ["nope"]},
            "rules: unknown rule 'nope'; valid: pdc-below-threshold",
        ),
        ("fhir-full", {"exclude_rules": "pdc-below-threshold"}, "exclude_rules: must be a list"),
        ("fhir-full", {"provenance": "yes"}, "provenance: must be true or false"),
        ("fhir-full", {"security_labels": ["R"]}, "security_labels: a list of PSY, ETH"),
        ("ehr-restricted", {"resource": "Flag"}, "resource: 'Flag'; valid: DocumentReference"),
        ("ehr-restricted", {"recipients": ["CareTeam/7"]}, "recipients: only for resource"),
        (
            "ehr-restricted",
            {"resource": "Communication", "recipients": ["Patient/1"]},
            "recipients: a list of references like 'CareTeam/7'",
        ),
    ],
)
def test_bad_options_name_the_option(name: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_profile(name, options)


def test_operators_restrict_the_rules_a_target_receives() -> None:
    states = [FindingState(finding=f, first_seen=D1, opened_on=D1) for f in (OB, PDC)]
    only_adherence = load_profile("fhir-full", {"exclude_rules": ["opioid-benzodiazepine"]})
    writes = only_adherence.plan(states, OPTIONS, written=frozenset())
    assert {w.rule for w in writes} == {"pdc-below-threshold", None}
    plan = next(w.resource for w in writes if w.resource_type == "CarePlan")
    assert [a["detail"]["code"]["text"] for a in plan["activity"]] == ["pdc-below-threshold"]
    notes = load_profile("ehr-restricted", {"rules": ["opioid-benzodiazepine"]})
    assert [w.rule for w in notes.plan(states, OPTIONS, written=frozenset())] == [
        "opioid-benzodiazepine"
    ]


def test_the_target_comes_from_the_option_then_the_connection_then_bundle_file() -> None:
    configured = Settings(
        connections=(
            Connection(name="epic", base_url="https://ehr.example/fhir/", target="ehr-restricted"),
        ),
        writeback_profiles={"ehr-restricted": {"resource": "Communication"}},
    )
    chosen = _profile(configured, "https://ehr.example/fhir", None)
    assert (chosen.name, getattr(chosen, "resource", None)) == ("ehr-restricted", "Communication")
    assert _profile(configured, "https://ehr.example/fhir", "fhir-full").name == "fhir-full"
    assert _profile(configured, "https://other.example/fhir", None).name == "bundle-file"
    assert _profile(configured, None, None).name == "bundle-file"
    bad = Settings(writeback_profiles={"none": {"rules": ["nope"]}}, config_file="fb.toml")
    with pytest.raises(ConfigError, match=r"fb\.toml: writeback/profiles/none: rules: unknown"):
        _profile(bad, None, "none")


def test_bundle_file_plans_what_fhir_full_writes() -> None:
    states = [FindingState(finding=f, first_seen=D1, opened_on=D1) for f in (OB, PDC)]
    bundle = load_profile("bundle-file").plan(states, OPTIONS, written=frozenset())
    assert bundle == plan_writes(states, OPTIONS)
    assert load_profile("none").plan(states, OPTIONS, written=frozenset()) == []


# --- ehr-restricted: notices ------------------------------------------------------------------


def test_document_reference_note_exact() -> None:
    note = build_document_reference(OB, opened_on=D1)
    text = base64.b64decode(note["content"][0]["attachment"]["data"]).decode("utf-8")
    assert text == (
        "Opioid (oxycodone) and benzodiazepine (alprazolam) supplies overlap\n\n"
        "Overlap on **21** day(s).\n\n"
        "Source: FDA Drug Safety Communication 2016-08-31"
    )
    note["content"][0]["attachment"]["data"] = "(checked above)"
    assert note == {
        "resourceType": "DocumentReference",
        "meta": META,
        "identifier": [
            {"system": "urn:fhirbridge:notice", "value": f"{OB.key}:2026-06-30"},
            {"system": "urn:fhirbridge:finding", "value": OB.key},
        ],
        "status": "current",
        "docStatus": "final",
        # LOINC 11506-3: argonautproject/clinicalnotes and jami-fhir-jp-wg/eTwoDis
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}
            ],
            "text": "Medication management finding (fhirbridge)",
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                        "code": "clinical-note",
                        "display": "Clinical Note",
                    }
                ]
            }
        ],
        "subject": {"reference": "Patient/p1"},
        "author": [{"reference": "Device/fhirbridge"}],
        "description": OB.summary,
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "en",
                    "data": "(checked above)",
                    "title": "Medication management finding (fhirbridge)",
                }
            }
        ],
        "context": {
            "period": {"start": "2026-06-30"},
            "related": [
                {"reference": "MedicationRequest/alp"},
                {"reference": "MedicationRequest/oxy"},
            ],
        },
    }


def test_resolution_note_closes_the_episode() -> None:
    note = build_document_reference(OB, opened_on=D1, resolved_on=D2)
    assert note["identifier"][0]["value"] == f"{OB.key}:2026-06-30:resolved"
    assert note["context"]["period"] == {"start": "2026-06-30", "end": "2026-08-31"}
    text = base64.b64decode(note["content"][0]["attachment"]["data"]).decode("utf-8")
    assert text == (
        "Resolved on 2026-08-31: Opioid (oxycodone) and benzodiazepine (alprazolam) supplies "
        "overlap\n\nNo longer present when fhirbridge re-evaluated the record."
    )
    validate(note)


def test_communication_goes_to_both_prescribers_and_the_care_team() -> None:
    message = build_communication(OB, opened_on=D1, recipients=["CareTeam/7"], security=("ETH",))
    assert message == {
        "resourceType": "Communication",
        "meta": {"tag": META["tag"], "security": [META["security"][1]]},
        "identifier": [
            {"system": "urn:fhirbridge:notice", "value": f"{OB.key}:2026-06-30"},
            {"system": "urn:fhirbridge:finding", "value": OB.key},
        ],
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                        "code": "notification",
                        "display": "Notification",
                    }
                ]
            }
        ],
        "priority": "urgent",  # severity high
        "subject": {"reference": "Patient/p1"},
        "about": [{"reference": "MedicationRequest/alp"}, {"reference": "MedicationRequest/oxy"}],
        "sent": "2026-06-30",
        "recipient": [
            {"reference": "CareTeam/7"},
            {"reference": "Practitioner/pain"},
            {"reference": "Practitioner/psy"},
        ],
        "sender": {"reference": "Device/fhirbridge"},
        "payload": [
            {
                "contentString": "Opioid (oxycodone) and benzodiazepine (alprazolam) supplies "
                "overlap\n\nOverlap on **21** day(s).\n\n"
                "Source: FDA Drug Safety Communication 2016-08-31"
            }
        ],
    }
    validate(message)
    # A URL authority is not repeated as "Source:"; moderate severity is routine.
    routine = build_communication(PDC, opened_on=D1)
    assert routine["priority"] == "routine"
    assert routine["payload"][0]["contentString"] == f"{PDC.summary}\n\nPDC detail."
    assert "recipient" not in routine  # no prescriber known, none configured: FHIR drops []


def test_ehr_restricted_announces_an_episode_once_and_its_end_only_if_announced() -> None:
    profile = load_profile("ehr-restricted")
    opened = [FindingState(finding=OB, first_seen=D1, opened_on=D1)]
    (note,) = profile.plan(opened, OPTIONS, written=frozenset())
    assert (note.resource_type, note.identifier) == (
        "DocumentReference",
        f"urn:fhirbridge:notice|{OB.key}:2026-06-30",
    )
    resolved = [FindingState(finding=OB, first_seen=D1, opened_on=D1, resolved_on=D2)]
    # Never announced to this target (the ledger has no opening note): nothing to close.
    assert profile.plan(resolved, OPTIONS, written=frozenset()) == []
    (closing,) = profile.plan(resolved, OPTIONS, written=frozenset({note.identifier}))
    assert closing.identifier == f"urn:fhirbridge:notice|{OB.key}:2026-06-30:resolved"
    # Back again on a later day: a new episode, a new note (these EHRs take no updates).
    back = [FindingState(finding=OB, first_seen=D1, opened_on=D2)]
    (again,) = profile.plan(back, OPTIONS, written=frozenset({note.identifier}))
    assert again.identifier == f"urn:fhirbridge:notice|{OB.key}:2026-08-31"
    for write in (note, closing, again):
        validate(write.resource)


def test_an_invalid_resource_is_held_back_with_what_refers_to_it_and_the_rest_goes_on() -> None:
    writes = plan_writes(
        [FindingState(finding=f, first_seen=D1, opened_on=D1) for f in (PDC, OB)], OPTIONS
    )
    broken = writes[1]  # the pdc-below-threshold DetectedIssue, which the Flag refers to
    assert (broken.resource_type, broken.rule) == ("DetectedIssue", "pdc-below-threshold")
    broken.resource["severity"] = ["high"]  # not a code: R4B refuses it
    valid, rejected = _validated(writes)
    assert [w.resource_type for w in valid] == ["DetectedIssue"]  # the interaction's
    assert [(w.resource_type, e) for w, e in rejected] == [
        ("DetectedIssue", "invalid DetectedIssue: DetectedIssue.severity: string_type"),
        ("Flag", f"refers to DetectedIssue urn:fhirbridge:finding|{PDC.key}, rejected"),
        ("CarePlan", f"refers to DetectedIssue urn:fhirbridge:finding|{PDC.key}, rejected"),
    ]
