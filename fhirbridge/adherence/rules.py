"""Pure: adherence findings for one patient (`pdc-below-threshold`).

Authority: PQA Proportion of Days Covered measure specification (adherent at PDC ≥ 80%);
clinical-anchors.md 1.1. PQA has no psychiatric PDC measure, so for psychiatric groups this is
an internal, non-certified use of the same engine (as HEDIS SAA does for antipsychotics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from fhirbridge.adherence.amm import GROUP as AMM_GROUP
from fhirbridge.adherence.amm import AmmResult, assess_amm
from fhirbridge.adherence.coverage import START_REF, select_fills
from fhirbridge.adherence.params import AmmParams
from fhirbridge.adherence.pdc import PdcResult, pdc
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.records import STATEMENT, MedicationEvent, PatientRecords
from fhirbridge.slotted import direct_init

GROUP_LABELS = {
    "moud": "MOUD",
    "antidepressant": "Antidepressant",
    "antipsychotic": "Antipsychotic",
    "mood-stabilizer": "Mood stabilizer",
}
PDC_AUTHORITY = "PQA Proportion of Days Covered (PDC) measure specification; adherent at PDC >= 80%"


@dataclass(frozen=True, slots=True, kw_only=True)
class AdherenceParams:
    """Thresholds from [analysis] in the configuration (defaults documented in CONTRACT.md)."""

    window_days: int = 365
    pdc_threshold: float = 0.80
    # PQA: the index date at least 91 days before the period end. 0 (default) reports every
    # period: the bundled examples include 90-day periods; 91 is the recommended setting.
    min_period_days: int = 0
    amm: AmmParams = field(default_factory=AmmParams)
    # A lapse in MOUD is an overdose risk within days (HEDIS POD counts 8-day gaps as
    # discontinuation), so a low MOUD PDC is raised as high; other groups as moderate.
    severity_by_group: dict[str, Severity] = field(default_factory=lambda: {"moud": Severity.HIGH})


Measure = PdcResult | AmmResult  # one adherence.ndjson line


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AdherenceOutcome:
    results: tuple[Measure, ...]  # PDC per group, then the AMM phases
    findings: tuple[Finding, ...]
    skipped: tuple[tuple[str, str], ...]  # (ref, reason)


def assess_adherence(
    records: PatientRecords, *, as_of: date, params: AdherenceParams | None = None
) -> AdherenceOutcome:
    """PDC per adherence group (and AMM), and a finding for each group below the threshold."""
    params = params or AdherenceParams()
    by_group: dict[str, list[MedicationEvent]] = {}
    for event in records.events:
        if event.kind is STATEMENT:
            continue
        for group in event.drug.groups:
            by_group.setdefault(group, []).append(event)
    results: list[Measure] = []
    findings: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    amm_fills: tuple[list[MedicationEvent], str] = ([], "order")
    for group in sorted(by_group):
        # Fills selected and put in date order once, for PDC and for AMM.
        fills, basis = select_fills(by_group[group])
        fills.sort(key=START_REF)
        if group == AMM_GROUP:
            amm_fills = (fills, basis)
        outcome = pdc(
            records.patient,
            group,
            fills,
            as_of=as_of,
            window_days=params.window_days,
            threshold=params.pdc_threshold,
            stays=records.stays,
            min_period_days=params.min_period_days,
            basis=basis,
        )
        skipped.extend(outcome.skipped)
        if outcome.result is None:
            continue
        results.append(outcome.result)
        if not outcome.result.adherent:
            findings.append(_low_pdc(outcome.result, by_group[group], records, params, as_of))
    results.extend(
        assess_amm(
            records,
            as_of=as_of,
            window_days=params.window_days,
            params=params.amm,
            fills=amm_fills,
        )
    )
    return AdherenceOutcome(
        results=tuple(results), findings=tuple(findings), skipped=tuple(skipped)
    )


def _low_pdc(
    result: PdcResult,
    events: Sequence[MedicationEvent],
    records: PatientRecords,
    params: AdherenceParams,
    as_of: date,
) -> Finding:
    label = GROUP_LABELS.get(result.group, result.group)
    prescribers = records.prescribers_of(result.fills)
    counted = set(result.fills)
    drugs = sorted({i for e in events if e.ref in counted for i in e.drug.ingredients})
    threshold = f"{params.pdc_threshold:.0%}"
    summary = (
        f"{label} adherence below {threshold}: PDC {result.value:.2f} "
        f"({result.days_covered} of {result.days_in_period} days covered)"
    )
    detail = (
        f"Proportion of days covered for **{label.lower()}** ({', '.join(drugs)}) is "
        f"**{result.value:.2%}**, below the {threshold} threshold: {result.days_covered} of "
        f"{result.days_in_period} days from {result.period_start.isoformat()} to "
        f"{result.period_end.isoformat()} were covered by {len(result.fills)} "
        f"{'dispenses' if result.basis == 'dispense' else 'orders (no dispense data)'}.\n\n"
        "Suggested step: ask the patient about missed doses and barriers (cost, side effects, "
        "access), and confirm the regimen with the prescriber."
    )
    return Finding(
        rule="pdc-below-threshold",
        category=Category.ADHERENCE,
        severity=params.severity_by_group.get(result.group, Severity.MODERATE),
        patient=result.patient,
        summary=summary,
        detail=detail,
        implicated=records.orders_behind(result.fills),
        prescribers=prescribers,
        authority=PDC_AUTHORITY,
        as_of=as_of,
    )
