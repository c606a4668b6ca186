"""Pure: every enabled rule over one patient's records, as of one date.

The rule registry is explicit and ordered (adherence first: its coverage is what the safety
rules judge overlap on). An unknown rule id in configuration is a ValueError naming the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from fhirbridge.adherence import PdcResult, assess_adherence
from fhirbridge.adherence.rules import AdherenceParams
from fhirbridge.findings import Finding, sort_key
from fhirbridge.reconciliation import OpioidBenzoParams, assess_opioid_benzodiazepine
from fhirbridge.records import PatientRecords


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisParams:
    """Rule parameters, built from [analysis] in the configuration."""

    adherence: AdherenceParams = field(default_factory=AdherenceParams)
    opioid_benzodiazepine: OpioidBenzoParams = field(default_factory=OpioidBenzoParams)
    rules: frozenset[str] | None = None  # None: every registered rule


@dataclass(frozen=True, slots=True, kw_only=True)
class PatientAnalysis:
    findings: tuple[Finding, ...]
    adherence: tuple[PdcResult, ...]
    skipped: tuple[tuple[str, str], ...]  # (ref, reason) of fills the measures could not use


Rule = Callable[[PatientRecords, date, AnalysisParams], list[Finding]]

# Rule ids (CONTRACT.md) → function. pdc-below-threshold is computed with the PDC results in
# analyze_patient; it is listed so configuration can name it.
RULES: dict[str, Rule | None] = {
    "pdc-below-threshold": None,
    "opioid-benzodiazepine": lambda r, d, p: assess_opioid_benzodiazepine(
        r, as_of=d, params=p.opioid_benzodiazepine
    ),
}


def check_rules(names: Iterable[str]) -> frozenset[str]:
    """Validate configured rule ids against the registry."""
    chosen = frozenset(names)
    unknown = sorted(chosen - RULES.keys())
    if unknown:
        raise ValueError(f"unknown rule {unknown[0]!r}; valid rules: {', '.join(RULES)}")
    return chosen


def analyze_patient(
    records: PatientRecords, *, as_of: date, params: AnalysisParams | None = None
) -> PatientAnalysis:
    """Adherence measures and findings of every enabled rule for one patient."""
    params = params or AnalysisParams()
    enabled = params.rules if params.rules is not None else frozenset(RULES)
    adherence = assess_adherence(records, as_of=as_of, params=params.adherence)
    findings = list(adherence.findings) if "pdc-below-threshold" in enabled else []
    for name, rule in RULES.items():
        if rule is not None and name in enabled:
            findings.extend(rule(records, as_of, params))
    return PatientAnalysis(
        findings=tuple(sorted(findings, key=sort_key)),
        adherence=adherence.results,
        skipped=adherence.skipped,
    )
