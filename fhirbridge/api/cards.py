"""Pure: findings → CDS Hooks 2.0 cards (cds-hooks.hl7.org/2.0; clinical-anchors.md 5.2).

Every card names its rule in `source.topic` (CONTRACT.md) so EHR analytics and feedback can be
grouped by rule. The card uuid is derived from the finding key, so feedback on a card finds its
finding again without any server-side session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from fhirbridge.findings import Finding, Severity

RULE_SYSTEM = "urn:fhirbridge:rule"
CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:fhirbridge:card")
SOURCE_LABEL = "fhirbridge medication safety"

# CDS Hooks indicator: info | warning | critical. A high-severity finding (naltrexone with an
# opioid, an opioid analgesic with a benzodiazepine) interrupts; moderate ones (MOUD with a
# benzodiazepine: coordinate, FDA 2017) warn; low ones inform.
INDICATORS = {Severity.HIGH: "critical", Severity.MODERATE: "warning", Severity.LOW: "info"}

# Override reasons shown to the clinician; the service SHALL populate display (CDS Hooks 2.0).
OVERRIDE_SYSTEM = "urn:fhirbridge:override-reason"
OVERRIDE_REASONS = (
    ("coordinated", "Coordinated with the other prescriber"),
    ("benefit-outweighs-risk", "Benefit outweighs risk for this patient"),
    ("not-taking", "Patient is no longer taking one of the medications"),
    ("data-incorrect", "The medication data is incorrect"),
)

# Rescue naloxone: RxNorm ingredient 7242 (codes-verified.md: VERIFIED, CPIC and VSAC).
NALOXONE_ORDER = {
    "resourceType": "MedicationRequest",
    "status": "draft",
    "intent": "proposal",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "7242",
                "display": "naloxone",
            }
        ],
        "text": "Naloxone 4 MG/ACTUAT Nasal Spray (rescue)",
    },
    "dosageInstruction": [
        {
            "text": "For suspected opioid overdose: one spray in one nostril; "
            "call 911; may repeat in 2-3 minutes",
            "asNeededBoolean": True,
        }
    ],
}


def card_uuid(finding: Finding) -> str:
    """The finding key (128 bits of hex) written as a UUID: stable per finding, and feedback on
    a card leads back to its finding without any server-side session (`finding_key_of`)."""
    return str(uuid.UUID(hex=finding.key))


def finding_key_of(card_id: str) -> str | None:
    """Inverse of card_uuid; None for a string that is not a UUID."""
    try:
        return uuid.UUID(card_id).hex
    except (ValueError, AttributeError, TypeError):
        return None


def card_for(finding: Finding, *, page_url: str | None = None) -> dict[str, Any]:
    """One card for one finding.

    Args:
        page_url: the SMART patient page to link (a `smart` link the EHR launches), if any.
    """
    card: dict[str, Any] = {
        "uuid": card_uuid(finding),
        "summary": finding.summary,
        "indicator": INDICATORS[finding.severity],
        "detail": f"{finding.detail}\n\n*Source: {finding.authority}*",
        "source": {
            "label": SOURCE_LABEL,
            "topic": {"system": RULE_SYSTEM, "code": finding.rule, "display": finding.rule},
        },
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
            for code, display in OVERRIDE_REASONS
        ],
    }
    if page_url:
        card["links"] = [
            {"label": "Medication timeline (fhirbridge)", "url": page_url, "type": "smart"}
        ]
    if finding.rule == "naloxone-missing":
        order = {**NALOXONE_ORDER, "subject": {"reference": finding.patient}}
        card["suggestions"] = [
            {
                "label": "Order rescue naloxone nasal spray",
                "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{finding.key}:naloxone")),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "create",
                        "description": "Add a naloxone nasal spray order",
                        "resource": order,
                    }
                ],
            }
        ]
        # CDS Hooks 2.0: selectionBehavior SHALL be present when suggestions are.
        card["selectionBehavior"] = "at-most-one"
    return card


def cards_for(findings: Iterable[Finding], *, page_url: str | None = None) -> list[dict[str, Any]]:
    """Cards ordered critical first, then by rule, so the EHR shows the worst first."""
    order = {"critical": 0, "warning": 1, "info": 2}
    cards = [card_for(f, page_url=page_url) for f in findings]
    return sorted(
        cards, key=lambda c: (order[c["indicator"]], c["source"]["topic"]["code"], c["uuid"])
    )
