"""Write-back builders. Pure: Finding → FHIR R4 DetectedIssue, Flag, CarePlan, Provenance dicts.

No I/O, no clock reads, no `requests`/`sqlmodel`/`flask` imports (STYLE.md row 11): every date
comes in as an argument, and the output is plain JSON-serialisable dicts, equal for equal input.
Why three resource types (HL7 FHIR R4 flag-notes, detectedissue; clinical-anchors.md 5.1): each
finding is a DetectedIssue; a Flag is a persistent chart warning, one per patient per concern,
only for the concerns in FLAG_CONCERNS (never interactions or duplicate therapy, which the Flag
page sends to DetectedIssue); one CarePlan per patient lists an activity per finding.
Codes and systems are those of reference/codes-verified.md sections 5 and 6.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from fhirbridge.findings import Finding

FINDING_SYSTEM = "urn:fhirbridge:finding"  # DetectedIssue.identifier: the finding key
CAREPLAN_SYSTEM = "urn:fhirbridge:careplan"  # CarePlan.identifier: the patient id
FLAG_SYSTEM = "urn:fhirbridge:flag"  # Flag.identifier: "<patient id>:<concern>"
CONCERN_SYSTEM = "urn:fhirbridge:concern"  # Flag.code
RULE_SYSTEM = "urn:fhirbridge:rule"  # the rule id, as in CDS Hooks source.topic
PROVENANCE_SYSTEM = "urn:fhirbridge:provenance"  # R4 Provenance has no identifier: a meta.tag
TAG_SYSTEM = "urn:fhirbridge:tag"
TAG = {"system": TAG_SYSTEM, "code": "fhirbridge", "display": "Written by fhirbridge"}
DEVICE_REF = "Device/fhirbridge"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
XHTML = "http://www.w3.org/1999/xhtml"

# v3 ActCode displays, verbatim from UTG v3-ActCode.xml v11.0.0 (codes-verified.md section 5).
ACTCODE_DISPLAY = {
    "DRG": "Drug Interaction Alert",  # not DRUG: in ActCode that is "Drug therapy"
    "DUPTHPY": "Duplicate Therapy Alert",
    "COMPLY": "Compliance Alert",
    "CAREGAP": "Caregap",  # the official display really is "Caregap"
    # Security labels: ActCode (_ActInformationSensitivityPolicy), not ActReason.
    "PSY": "psychiatry disorder information sensitivity",
    "ETH": "substance abuse information sensitivity",
    # Mitigation actions (_ActDetectedIssueManagementCode), used when a finding resolves.
    "7": "Interacting Therapy No Longer Active/Planned",
    "8": "Other Action Taken",
}
DEFAULT_SECURITY = ("PSY", "ETH")

# Rule → DetectedIssue.code, in CONTRACT.md rule order. The four codes are the only active
# detected-issue codes codes-verified.md verified; a rule gets the narrowest one that is true.
DETECTED_ISSUE_CODES: dict[str, str] = {
    "pdc-below-threshold": "COMPLY",  # supply says the patient is not taking it as intended
    "refill-overdue": "COMPLY",  # same: the supply ran out
    "moud-gap": "COMPLY",  # same, for buprenorphine/naltrexone/methadone coverage
    "opioid-benzodiazepine": "DRG",  # CNS depression (FDA DSC 2016-08-31 boxed warning)
    "opioid-gabapentinoid": "DRG",  # respiratory depression (FDA DSC 2019-12-19)
    "opioid-sedative-hypnotic": "DRG",  # z-drugs: additive CNS depression
    "naltrexone-opioid": "DRG",  # antagonist blocks analgesia / precipitates withdrawal
    "serotonergic-maoi": "DRG",  # serotonin syndrome (fluoxetine label: contraindicated)
    "serotonergic-opioid": "DRG",  # serotonin syndrome (FDA DSC 2016-03-22)
    "naloxone-missing": "CAREGAP",  # recommended rescue naloxone not prescribed (CDC 2022 rec 8)
    "duplicate-therapy": "DUPTHPY",  # two active drugs of one class
    "multiple-prescribers": "COMPLY",  # parent of PLYDOC "poly-orderer", which is unconfirmed
    "medication-list-discrepancy": "COMPLY",  # what is taken differs from what is intended
    "oud-untreated": "CAREGAP",  # CONTRACT.md names CAREGAP: treatment not offered (rec 12)
    # Monitoring. A UDS that contradicts the medication list is the textbook COMPLY definition
    # ("an issue with the patient complying with the intentions of the proposed therapy"); COMPLY
    # also parents ABUSE. A PHQ-9 signal is about no therapy at all: it asks for an assessment or a
    # treatment review that has not happened yet, which is a care gap (CAREGAP).
    "uds-unexpected-negative": "COMPLY",  # prescribed drug absent: possibly not taken (rec 10)
    "uds-unexpected-positive": "COMPLY",  # unprescribed substance present (CDC 2022 rec 10)
    "phq9-worsening": "CAREGAP",  # treatment review due (AMM/measurement-based care)
    "phq9-suicidality": "CAREGAP",  # same-day suicide risk assessment due
    "methadone-qt": "DRG",  # methadone with another QT-prolonging drug (methadone boxed warning)
}


class Concern(NamedTuple):
    """A chart-level concern: one Flag per patient per concern, updated in place."""

    id: str  # Flag.code code in CONCERN_SYSTEM, and part of the Flag identifier
    category: str  # flag-category code (codes-verified.md section 6)
    text: str  # Flag.code text: generic, never patient data


# flag-category displays, verbatim from UTG CodeSystem-flag-category v1.0.1 (section 6).
FLAG_CATEGORY_DISPLAY = {"drug": "Drug", "lab": "Lab", "safety": "Safety"}
ADHERENCE = Concern("medication-adherence", "drug", "Medication adherence concern")
OVERDOSE = Concern("overdose-risk", "safety", "Opioid overdose risk")
SUICIDE = Concern("suicide-risk", "safety", "Suicide risk: positive screen")
UDS = Concern("substance-use-monitoring", "lab", "Unexpected urine drug screen result")
PRESCRIBERS = Concern("prescriber-coordination", "drug", "Multiple prescribers: coordinate care")

# Rule → Concern. A Flag is for what should change how *any* clinician treats the patient
# ("low compliance expected" is the Flag page's own example). Absent on purpose: the DRG rules and
# duplicate-therapy (the Flag page: those are DetectedIssue), medication-list-discrepancy (a
# reconciliation task: CarePlan) and phq9-worsening (a treatment review for the treating clinician:
# CarePlan). Few concerns on purpose: "the flag list will itself become overwhelming".
FLAG_CONCERNS: dict[str, Concern] = {
    "pdc-below-threshold": ADHERENCE,
    "refill-overdue": ADHERENCE,
    "moud-gap": ADHERENCE,
    "naloxone-missing": OVERDOSE,  # the risk any prescriber of opioids must know about
    "oud-untreated": OVERDOSE,
    "phq9-suicidality": SUICIDE,  # "safety": precautions, rather than "behavioral"
    "uds-unexpected-negative": UDS,  # "lab": the flag is about a result (category definition)
    "uds-unexpected-positive": UDS,
    "multiple-prescribers": PRESCRIBERS,  # "drug": about the subject's medications
}
CONCERNS = {c.id: c for c in FLAG_CONCERNS.values()}


def concern_of(rule: str) -> Concern | None:
    """The chart concern of `rule`, or None when its findings get no Flag (ValueError: unknown)."""
    _code_of(rule)
    return FLAG_CONCERNS.get(rule)


def build_detected_issue(
    finding: Finding,
    *,
    device: str = DEVICE_REF,
    security: Sequence[str] = DEFAULT_SECURITY,
    resolved_on: date | None = None,
) -> dict[str, Any]:
    """One DetectedIssue for one finding (CONTRACT.md "FHIR written back").

    Args:
        finding: the finding; a resolved one as first published (`as_of` = identification date).
        device: the author. security: v3 ActCode confidentiality labels (PSY, ETH).
        resolved_on: when the finding stopped holding: adds a mitigation (see below).
    Returns:
        The resource dict, without id (the server assigns one).
    Raises:
        ValueError: unknown rule or security label.
    """
    code = _code_of(finding.rule)
    # detail: the summary first because code.text is only the category, then the markdown, then
    # the authority unless it is a URL (which goes to .reference, a uri).
    authority_is_url = finding.authority.startswith(("https://", "http://"))
    source = "" if authority_is_url else f"Source: {finding.authority}"
    parts = (finding.summary, finding.detail, source)
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "meta": _meta(security),
        "identifier": [{"system": FINDING_SYSTEM, "value": finding.key}],
        "status": "final",
        # A second coding names the rule, so DetectedIssue?code=urn:fhirbridge:rule|<id> works.
        "code": {
            "coding": [_coding(ACTCODE, code), {"system": RULE_SYSTEM, "code": finding.rule}],
            "text": ACTCODE_DISPLAY[code],
        },
        "severity": finding.severity.value,
        "patient": {"reference": finding.patient},
        "identifiedDateTime": finding.as_of.isoformat(),
        "author": {"reference": device},
        "implicated": [{"reference": ref} for ref in finding.implicated],
        "detail": "\n\n".join(part for part in parts if part),
    }
    if finding.evidence:
        resource["evidence"] = [{"detail": [{"reference": ref} for ref in finding.evidence]}]
    if authority_is_url:
        resource["reference"] = finding.authority
    if resolved_on is not None:
        # fhirbridge only sees that the finding no longer holds, not who did what. For DRG and
        # DUPTHPY that observation *is* code 7 (one of the therapies is no longer active); for
        # COMPLY and CAREGAP no code says "resolved", so 8 "Other Action Taken" with a text
        # saying what fhirbridge saw. Not 5 "Consulted Prescriber": nobody told us so.
        action = "7" if code in ("DRG", "DUPTHPY") else "8"
        resource["mitigation"] = [
            {
                "action": {
                    "coding": [_coding(ACTCODE, action)],
                    "text": "No longer present when fhirbridge re-evaluated the record",
                },
                "date": resolved_on.isoformat(),
                "author": {"reference": device},
            }
        ]
    return _drop_empty(resource)


def flag_identifier_value(patient: str, concern: str) -> str:
    """Flag identifier value: "<patient id>:<concern>" (the id, never a name)."""
    return f"{_patient_id(patient)}:{concern}"


def build_flag(
    patient: str,
    concern: str,
    findings: Iterable[Finding],
    *,
    detected_issue_refs: Sequence[str],
    start: date,
    end: date | None = None,
    device: str = DEVICE_REF,
    security: Sequence[str] = DEFAULT_SECURITY,
) -> dict[str, Any]:
    """The one Flag of `patient` for `concern`: active, or inactive from `end`.

    Args:
        patient: "Patient/<id>". concern: a Concern id. findings: the open findings behind it
            (for an inactive flag, the last ones). start: when the concern was first raised.
        detected_issue_refs: their DetectedIssues (urn:uuid fullUrls inside a transaction).
        end: when the concern cleared: the flag becomes inactive with period.end.
    Returns:
        The Flag dict, identified by FLAG_SYSTEM | flag_identifier_value(patient, concern).
    Raises:
        ValueError: unknown concern, a finding of another patient or concern, an active flag
            without findings, or `end` before `start`.
    """
    if concern not in CONCERNS:
        raise ValueError(f"unknown concern {concern!r}; valid: {', '.join(sorted(CONCERNS))}")
    found = sorted(findings, key=lambda f: (f.rule, f.key))
    for finding in found:
        if finding.patient != patient or concern_of(finding.rule) != CONCERNS[concern]:
            raise ValueError(f"finding {finding.key} ({finding.rule}) is not {concern} here")
    if end is None and not found:
        raise ValueError("an active Flag needs at least one finding")
    if end is not None and end < start:
        raise ValueError("Flag period end is before its start")
    c = CONCERNS[concern]
    period = {"start": start.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    return _drop_empty(
        {
            "resourceType": "Flag",
            "meta": _meta(security),
            "extension": [
                {"url": FLAG_DETAIL, "valueReference": {"reference": ref}}
                for ref in sorted(set(detected_issue_refs))
            ],
            # Finding identifiers too: CONTRACT.md puts urn:fhirbridge:finding on every resource.
            "identifier": [
                {"system": FLAG_SYSTEM, "value": flag_identifier_value(patient, concern)}
            ]
            + [{"system": FINDING_SYSTEM, "value": f.key} for f in found],
            "status": "active" if end is None else "inactive",
            "category": [
                {
                    "coding": [
                        {
                            "system": FLAG_CATEGORY,
                            "code": c.category,
                            "display": FLAG_CATEGORY_DISPLAY[c.category],
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": CONCERN_SYSTEM, "code": c.id, "display": c.text}],
                "text": c.text,
            },
            "subject": {"reference": patient},
            "period": period,
            "author": {"reference": device},
        }
    )


def build_care_plan(
    patient: str,
    findings: Iterable[Finding],
    *,
    as_of: date,
    detected_issue_refs: Mapping[str, str] | None = None,
    closed: Iterable[tuple[Finding, str]] = (),
    device: str = DEVICE_REF,
    security: Sequence[str] = DEFAULT_SECURITY,
) -> dict[str, Any]:
    """The one proposed CarePlan of `patient`: an activity per open (and given closed) finding.

    Args:
        patient: "Patient/<id>". findings: its open findings (activity status "not-started").
        as_of: the evaluation date. Checked (no finding may be later), not written: a plan that
            did not change is then the same resource on a later day, and is not rewritten.
        detected_issue_refs: finding key → DetectedIssue reference, listed in supportingInfo.
        closed: (finding, "completed" | "cancelled") for findings that closed.
    Returns:
        The CarePlan dict: status "active", or "completed" when no finding is open.
    Raises:
        ValueError: unknown rule, a finding of another patient or after `as_of`, a bad status.
    """
    refs = detected_issue_refs or {}
    items = [(f, "not-started") for f in findings] + list(closed)
    items.sort(key=lambda item: (item[0].rule, item[0].key))
    for finding, status in items:
        _code_of(finding.rule)
        if finding.patient != patient:
            raise ValueError(f"finding {finding.key} is not of {patient}")
        if finding.as_of > as_of:
            raise ValueError(f"finding {finding.key} is dated after as_of {as_of.isoformat()}")
        if status not in ("not-started", "completed", "cancelled"):
            raise ValueError(f"activity status {status!r}; valid: completed, cancelled")
    n_open = sum(1 for _, status in items if status == "not-started")
    lines = "".join(
        f"<li>{'' if s == 'not-started' else f'[{s}] '}{html.escape(f.summary)}</li>"
        for f, s in items
    )
    heading = f"Open medication-management findings: {n_open}"
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": _meta(security),
        "text": {
            "status": "generated",
            "div": f'<div xmlns="{XHTML}"><p>{heading}</p>'
            + (f"<ul>{lines}</ul>" if lines else "")
            + "</div>",
        },
        "identifier": [{"system": CAREPLAN_SYSTEM, "value": _patient_id(patient)}],
        "status": "active" if n_open else "completed",
        "intent": "proposal",  # a CDS suggestion, for a clinician to adopt (5.1)
        "category": [
            {
                "coding": [
                    {
                        "system": CAREPLAN_CATEGORY,
                        "code": "assess-plan",
                        "display": "Assessment and Plan of Treatment",
                    }
                ]
            }
        ],
        "title": "Medication management follow-up (fhirbridge)",
        "description": heading,
        "subject": {"reference": patient},
        "author": {"reference": device},
        # R4 has no activity-level link to a DetectedIssue (activity.reference admits only
        # requests, outcomeReference is what the activity produced), so the DetectedIssues go to
        # supportingInfo ("portions of the record that influenced the plan"), in activity order;
        # each activity names its rule in detail.code.
        "supportingInfo": [{"reference": refs[f.key]} for f, _ in items if f.key in refs],
        "activity": [
            {
                "detail": {
                    "code": {"coding": [{"system": RULE_SYSTEM, "code": f.rule}], "text": f.rule},
                    "status": status,
                    "description": f.summary,
                }
            }
            for f, status in items
        ],
    }
    return _drop_empty(resource)


def build_provenance(
    target_refs: Sequence[str],
    *,
    recorded: str,
    device: str = DEVICE_REF,
    on_behalf_of: str | None = None,
    security: Sequence[str] = DEFAULT_SECURITY,
    keyed_by_targets: bool = False,
) -> dict[str, Any]:
    """Provenance for one write-back: fhirbridge (a Device) authored `target_refs`.

    R4 Provenance has no `identifier`, so its idempotency key is a meta.tag in PROVENANCE_SYSTEM
    (searchable as `_tag`), hashed from `recorded` and the sorted targets; with
    `keyed_by_targets`, from the targets alone: the publisher's Provenance of one versioned write
    (`Flag/1/_history/2`) then has one key however often a crashed run is resumed.

    Args:
        target_refs: the written resources (urn:uuid fullUrls inside a transaction, or
            versioned references "Type/id/_history/vid" of one write).
        recorded: the instant, e.g. "2025-03-31T02:00:00+00:00" (the caller reads the clock).
        device: the agent. on_behalf_of: "Organization/<id>" that runs fhirbridge, if known.
    Returns:
        The Provenance dict.
    Raises:
        ValueError: no target.
    """
    targets = sorted(set(target_refs))
    if not targets:
        raise ValueError("a Provenance needs at least one target")
    keyed = targets if keyed_by_targets else [recorded, *targets]
    key = hashlib.sha256("\n".join(keyed).encode("utf-8")).hexdigest()[:32]
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author", "display": "Author"}]},
        "who": {"reference": device},
    }
    if on_behalf_of:
        agent["onBehalfOf"] = {"reference": on_behalf_of}
    meta = _meta(security)
    meta["tag"] = [*meta["tag"], {"system": PROVENANCE_SYSTEM, "code": key}]
    return {
        "resourceType": "Provenance",
        "meta": meta,
        "target": [{"reference": ref} for ref in targets],
        "recorded": recorded,
        "agent": [agent],
    }


def validate(resource: Mapping[str, Any]) -> None:
    """Validate `resource` against fhir.resources R4B; ValueError names element paths, no values.

    Raises:
        ValueError: unknown resourceType, or "<Type>.<path>: <error type>; ..." (no input values,
            which are patient data, and no chained pydantic error that would carry them).
    """
    # Imported here: fhir.resources costs ~0.2 s to import and only write-back needs it.
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    rtype = str(resource.get("resourceType"))
    try:
        model = get_fhir_model_class(rtype)
    except ValueError:
        raise ValueError(f"not a FHIR R4B resourceType: {rtype!r}") from None
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        problems = "; ".join(f"{rtype}{_path(err['loc'])}: {err['type']}" for err in exc.errors())
        raise ValueError(f"invalid {rtype}: {problems}") from None


def _code_of(rule: str) -> str:
    try:
        return DETECTED_ISSUE_CODES[rule]
    except KeyError:
        valid = ", ".join(DETECTED_ISSUE_CODES)
        raise ValueError(f"unknown rule {rule!r}; valid: {valid}") from None


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": ACTCODE_DISPLAY[code]}


def _meta(security: Sequence[str]) -> dict[str, Any]:
    for label in security:
        if label not in DEFAULT_SECURITY:
            raise ValueError(f"unknown security label {label!r}; valid: PSY, ETH")
    meta: dict[str, Any] = {"tag": [dict(TAG)]}
    if security:
        meta["security"] = [_coding(ACTCODE, label) for label in security]
    return meta


def _patient_id(patient: str) -> str:
    kind, _, pid = patient.partition("/")
    if kind != "Patient" or not pid:
        raise ValueError("expected a reference 'Patient/<id>'")
    return pid


def _drop_empty(resource: dict[str, Any]) -> dict[str, Any]:
    # FHIR JSON forbids empty arrays ("extension": [] is invalid), so optional lists go when empty.
    return {key: value for key, value in resource.items() if value != []}


def _path(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
