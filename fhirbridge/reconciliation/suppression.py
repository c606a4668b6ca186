"""Pure: acknowledged findings stay quiet until their inputs change (against alert fatigue).

A clinician who acknowledges or overrides a finding has seen it; raising the same finding on
every run teaches clinicians to ignore fhirbridge. The CDC opioid CDS cards offer the same
("snooze", override reasons; clinical-anchors.md 3.1). A finding is suppressed while:
- its key is the acknowledged key (same rule, patient and implicated prescriptions: a new
  prescription makes a new key), and
- its evidence is the evidence seen when it was acknowledged (a new QTc, screen or diagnosis
  raises it again even where the key does not change).
Suppression is configurable per rule: `exempt_rules` are always raised; `enabled = false`
turns it off. Suppressed findings are counted in the run report, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from fhirbridge.findings import Finding


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgement:
    """A clinician's acknowledgement or override of one finding."""

    key: str  # the finding key acknowledged
    kind: str  # "acknowledged" | "overridden"
    by: str  # who: a Practitioner reference or a user name (never a patient)
    at: datetime
    reason: str  # free text, e.g. "tapering plan agreed with psychiatry"
    evidence: tuple[str, ...] | None = None  # the finding's evidence then; None: not known


@dataclass(frozen=True, slots=True, kw_only=True)
class SuppressionParams:
    """[analysis.suppression]"""

    enabled: bool = True
    exempt_rules: frozenset[str] = frozenset()  # rules whose findings are always raised


def suppressed(
    finding: Finding, acknowledgement: Acknowledgement | None, params: SuppressionParams
) -> bool:
    """Whether this finding is held back by this acknowledgement."""
    if acknowledgement is None or not params.enabled or finding.rule in params.exempt_rules:
        return False
    if acknowledgement.key != finding.key:
        return False
    return acknowledgement.evidence is None or acknowledgement.evidence == finding.evidence


def split_suppressed(
    findings: Iterable[Finding],
    acknowledgements: Mapping[str, Acknowledgement],
    params: SuppressionParams | None = None,
) -> tuple[list[Finding], list[Finding]]:
    """(raised, suppressed): findings split by their latest acknowledgement (by key)."""
    params = params or SuppressionParams()
    raised: list[Finding] = []
    held: list[Finding] = []
    for finding in findings:
        ack = acknowledgements.get(finding.key)
        (held if suppressed(finding, ack, params) else raised).append(finding)
    return raised, held
