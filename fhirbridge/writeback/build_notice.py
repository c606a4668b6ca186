"""Write-back builders for EHRs that take notes and messages, not alerts. Pure: Finding →
FHIR R4 DocumentReference (a clinical note) or Communication (a message to the care team).

Epic and Oracle Health accept neither Flag nor CarePlan from third parties; both accept
DocumentReference clinical notes, Oracle also Communication (ehr-integration.md section 2). They
accept creates, not updates, so a notice is an event: one when a finding's episode starts, and
one when it ends. Each notice carries two identifiers: `urn:fhirbridge:notice|<key>:<episode
start>[:resolved]` (its own, for idempotency) and `urn:fhirbridge:finding|<key>` (CONTRACT.md:
every written resource names its finding), plus the configured security labels.

Codes (not in codes-verified.md; cross-checked with the search tool, two sources each):
- LOINC 11506-3 "Progress note": argonautproject/clinicalnotes `link-list.md` (the US Core
  clinical note types) and jami-fhir-jp-wg/eTwoDis `jp-codeSystem-eClinicalSummary-document-code`.
- US Core DocumentReference category `clinical-note` "Clinical Note": hl7.org/fhir/us/core
  CodeSystem-us-core-documentreference-category (STU5.0.1, STU7, STU8 pages agree).
- communication-category `notification` "Notification": GinoCanessa/xver-preview
  `CodeSystem-communication-category.md` and GinoCanessa/FhirTypeScriptOddsAndEnds
  `ValueSets/CommunicationCategory.js`.
Element codes from required FHIR R4 bindings (document-reference-status `current`,
composition-status `final`, event-status `completed`, request-priority) need no terminology source.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from typing import Any

from fhirbridge.findings import Finding, Severity
from fhirbridge.writeback.build import (
    DEFAULT_SECURITY,
    DEVICE_REF,
    FINDING_SYSTEM,
    _drop_empty,
    _meta,
)

NOTICE_SYSTEM = "urn:fhirbridge:notice"
LOINC = "http://loinc.org"
PROGRESS_NOTE = {"system": LOINC, "code": "11506-3", "display": "Progress note"}
US_CORE_DOC_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
CLINICAL_NOTE = {
    "system": US_CORE_DOC_CATEGORY,
    "code": "clinical-note",
    "display": "Clinical Note",
}
COMM_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
NOTIFICATION = {"system": COMM_CATEGORY, "code": "notification", "display": "Notification"}
TITLE = "Medication management finding (fhirbridge)"
RESOLVED_TEXT = "No longer present when fhirbridge re-evaluated the record"


def notice_value(finding: Finding, opened_on: date, *, resolved: bool = False) -> str:
    """The notice identifier value: "<finding key>:<episode start>", plus ":resolved"."""
    return f"{finding.key}:{opened_on.isoformat()}" + (":resolved" if resolved else "")


def notice_text(finding: Finding, *, resolved_on: date | None = None) -> str:
    """The plain text of a notice: what was found and what to do, or that it no longer holds."""
    source = "" if finding.authority.startswith(("https://", "http://")) else finding.authority
    if resolved_on is not None:
        parts = [f"Resolved on {resolved_on.isoformat()}: {finding.summary}", f"{RESOLVED_TEXT}."]
    else:
        parts = [finding.summary, finding.detail, f"Source: {source}" if source else ""]
    return "\n\n".join(part for part in parts if part)


def build_document_reference(
    finding: Finding,
    *,
    opened_on: date,
    resolved_on: date | None = None,
    device: str = DEVICE_REF,
    security: Sequence[str] = DEFAULT_SECURITY,
) -> dict[str, Any]:
    """A clinical note (LOINC progress note) for a finding's episode, or for its end.

    Args:
        finding: the finding. opened_on: the episode's first day (context.period.start).
        resolved_on: for the resolution note: the day it no longer held (context.period.end).
        device: the author. security: v3 ActCode confidentiality labels.
    Raises:
        ValueError: an unknown security label.
    """
    text = notice_text(finding, resolved_on=resolved_on)
    period = {"start": opened_on.isoformat()}
    if resolved_on is not None:
        period["end"] = resolved_on.isoformat()
    return _drop_empty(
        {
            "resourceType": "DocumentReference",
            "meta": _meta(security),
            "identifier": _identifiers(finding, opened_on, resolved_on),
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [dict(PROGRESS_NOTE)], "text": TITLE},
            "category": [{"coding": [dict(CLINICAL_NOTE)]}],
            "subject": {"reference": finding.patient},
            "author": [{"reference": device}],
            "description": finding.summary,
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "language": "en",
                        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                        "title": TITLE,
                    }
                }
            ],
            # The episode and the prescriptions behind the finding (Reference(Any) here).
            "context": {
                "period": period,
                "related": [{"reference": ref} for ref in finding.implicated],
            },
        }
    )


def build_communication(
    finding: Finding,
    *,
    opened_on: date,
    resolved_on: date | None = None,
    recipients: Sequence[str] = (),
    device: str = DEVICE_REF,
    security: Sequence[str] = DEFAULT_SECURITY,
) -> dict[str, Any]:
    """A message to the care team: the finding's prescribers plus the configured recipients.

    Cross-prescriber findings are about two prescribers who do not see each other's work, so the
    message goes to both (Finding.prescribers) and to any care team the operator names.

    Args:
        finding: the finding. opened_on: the episode's first day (sent, for the opening notice).
        resolved_on: for the resolution message: the day it no longer held (its sent date).
        recipients: extra references, e.g. "CareTeam/7". device: the sender.
    Raises:
        ValueError: an unknown security label.
    """
    to = sorted({*finding.prescribers, *recipients})
    return _drop_empty(
        {
            "resourceType": "Communication",
            "meta": _meta(security),
            "identifier": _identifiers(finding, opened_on, resolved_on),
            "status": "completed",  # the message was sent: event-status
            "category": [{"coding": [dict(NOTIFICATION)]}],
            # request-priority: a high-severity finding asks for prompt action ("urgent" is the
            # next level above "routine"; asap/stat are for orders, not advice).
            "priority": "urgent" if finding.severity is Severity.HIGH else "routine",
            "subject": {"reference": finding.patient},
            "about": [{"reference": ref} for ref in finding.implicated],
            "sent": (resolved_on or opened_on).isoformat(),
            "recipient": [{"reference": ref} for ref in to],
            "sender": {"reference": device},
            "payload": [{"contentString": notice_text(finding, resolved_on=resolved_on)}],
        }
    )


def _identifiers(
    finding: Finding, opened_on: date, resolved_on: date | None
) -> list[dict[str, str]]:
    value = notice_value(finding, opened_on, resolved=resolved_on is not None)
    return [
        {"system": NOTICE_SYSTEM, "value": value},
        {"system": FINDING_SYSTEM, "value": finding.key},
    ]
