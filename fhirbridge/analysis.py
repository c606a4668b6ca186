"""Pure: every enabled rule over one patient's records, as of one date.

The rule registry is explicit and ordered (adherence first: its coverage is what the safety
rules judge overlap on). An unknown rule id in configuration is a ValueError naming the valid ones.

Each rule also has a prerequisite (RULE_NEEDS): a cheap test on the patient's RuleProfile that
holds whenever the rule could return a finding. It is a necessary condition read from the rule's
own code, never a sufficient one, so skipping a rule whose prerequisite fails changes no result;
it only saves the rule's work (e.g. opioid-benzodiazepine for a patient on sertraline alone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from fhirbridge.adherence import (
    AmmResult,
    MoudGapParams,
    PdcResult,
    Phq9SuicidalityParams,
    Phq9WorseningParams,
    RefillParams,
    UdsNegativeParams,
    UdsPositiveParams,
    assess_adherence,
    assess_moud_gap,
    assess_phq9_suicidality,
    assess_phq9_worsening,
    assess_refill_overdue,
    assess_uds_unexpected_negative,
    assess_uds_unexpected_positive,
    imputed,
    resolve_supply,
)
from fhirbridge.adherence.rules import AdherenceParams
from fhirbridge.findings import Finding, sort_key
from fhirbridge.reconciliation import (
    DiscrepancyParams,
    DuplicateParams,
    MaoiParams,
    MethadoneQtParams,
    MultiplePrescribersParams,
    NaloxoneParams,
    NaltrexoneParams,
    OpioidBenzoParams,
    OudUntreatedParams,
    SedativeParams,
    SerotonergicOpioidParams,
    SuppressionParams,
    assess_duplicate_therapy,
    assess_medication_list_discrepancy,
    assess_methadone_qt,
    assess_multiple_prescribers,
    assess_naloxone_missing,
    assess_naltrexone_opioid,
    assess_opioid_benzodiazepine,
    assess_opioid_gabapentinoid,
    assess_opioid_sedative_hypnotic,
    assess_oud_untreated,
    assess_serotonergic_maoi,
    assess_serotonergic_opioid,
)
from fhirbridge.records import PatientRecords
from fhirbridge.rule_needs import RULE_NEEDS, Need, RuleProfile, rule_profile
from fhirbridge.slotted import direct_init


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisParams:
    """Rule parameters, built from [analysis] in the configuration."""

    adherence: AdherenceParams = field(default_factory=AdherenceParams)
    # Adherence and monitoring rules ([analysis.rules.<rule id>], adherence/params.py).
    refill_overdue: RefillParams = field(default_factory=RefillParams)
    moud_gap: MoudGapParams = field(default_factory=MoudGapParams)
    uds_unexpected_negative: UdsNegativeParams = field(default_factory=UdsNegativeParams)
    uds_unexpected_positive: UdsPositiveParams = field(default_factory=UdsPositiveParams)
    phq9_worsening: Phq9WorseningParams = field(default_factory=Phq9WorseningParams)
    phq9_suicidality: Phq9SuicidalityParams = field(default_factory=Phq9SuicidalityParams)
    opioid_benzodiazepine: OpioidBenzoParams = field(default_factory=OpioidBenzoParams)
    # Reconciliation rules ([analysis.rules.<rule id>], reconciliation/params.py RULE_PARAMS).
    opioid_gabapentinoid: SedativeParams = field(default_factory=SedativeParams)
    opioid_sedative_hypnotic: SedativeParams = field(default_factory=SedativeParams)
    naltrexone_opioid: NaltrexoneParams = field(default_factory=NaltrexoneParams)
    serotonergic_maoi: MaoiParams = field(default_factory=MaoiParams)
    serotonergic_opioid: SerotonergicOpioidParams = field(default_factory=SerotonergicOpioidParams)
    naloxone_missing: NaloxoneParams = field(default_factory=NaloxoneParams)
    duplicate_therapy: DuplicateParams = field(default_factory=DuplicateParams)
    multiple_prescribers: MultiplePrescribersParams = field(
        default_factory=MultiplePrescribersParams
    )
    medication_list_discrepancy: DiscrepancyParams = field(default_factory=DiscrepancyParams)
    oud_untreated: OudUntreatedParams = field(default_factory=OudUntreatedParams)
    methadone_qt: MethadoneQtParams = field(default_factory=MethadoneQtParams)
    # [analysis.suppression]: applied by services.analyze, where acknowledgements are read.
    suppression: SuppressionParams = field(default_factory=SuppressionParams)
    rules: frozenset[str] | None = None  # None: every registered rule


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PatientAnalysis:
    findings: tuple[Finding, ...]
    adherence: tuple[PdcResult | AmmResult, ...]  # adherence.ndjson lines: PDC, then AMM
    skipped: tuple[tuple[str, str], ...]  # (ref, reason) of fills the measures could not use
    imputed: tuple[tuple[str, str], ...] = ()  # (ref, basis) of days supplies from defaults


Rule = Callable[[PatientRecords, date, AnalysisParams], list[Finding]]

# Rule ids (CONTRACT.md) → function. pdc-below-threshold is computed with the PDC results in
# analyze_patient; it is listed so configuration can name it.
RULES: dict[str, Rule | None] = {
    "pdc-below-threshold": None,
    "refill-overdue": lambda r, d, p: assess_refill_overdue(r, as_of=d, params=p.refill_overdue),
    "moud-gap": lambda r, d, p: assess_moud_gap(r, as_of=d, params=p.moud_gap),
    "opioid-benzodiazepine": lambda r, d, p: assess_opioid_benzodiazepine(
        r, as_of=d, params=p.opioid_benzodiazepine
    ),
    "opioid-gabapentinoid": lambda r, d, p: assess_opioid_gabapentinoid(
        r, as_of=d, params=p.opioid_gabapentinoid
    ),
    "opioid-sedative-hypnotic": lambda r, d, p: assess_opioid_sedative_hypnotic(
        r, as_of=d, params=p.opioid_sedative_hypnotic
    ),
    "naltrexone-opioid": lambda r, d, p: assess_naltrexone_opioid(
        r, as_of=d, params=p.naltrexone_opioid
    ),
    "serotonergic-maoi": lambda r, d, p: assess_serotonergic_maoi(
        r, as_of=d, params=p.serotonergic_maoi
    ),
    "serotonergic-opioid": lambda r, d, p: assess_serotonergic_opioid(
        r, as_of=d, params=p.serotonergic_opioid
    ),
    "naloxone-missing": lambda r, d, p: assess_naloxone_missing(
        r, as_of=d, params=p.naloxone_missing
    ),
    "duplicate-therapy": lambda r, d, p: assess_duplicate_therapy(
        r, as_of=d, params=p.duplicate_therapy
    ),
    "multiple-prescribers": lambda r, d, p: assess_multiple_prescribers(
        r, as_of=d, params=p.multiple_prescribers
    ),
    "medication-list-discrepancy": lambda r, d, p: assess_medication_list_discrepancy(
        r, as_of=d, params=p.medication_list_discrepancy
    ),
    "oud-untreated": lambda r, d, p: assess_oud_untreated(r, as_of=d, params=p.oud_untreated),
    "methadone-qt": lambda r, d, p: assess_methadone_qt(r, as_of=d, params=p.methadone_qt),
    # Monitoring: early warning signs in screens and scores (adherence/screens.py, phq9.py).
    "uds-unexpected-negative": lambda r, d, p: assess_uds_unexpected_negative(
        r, as_of=d, params=p.uds_unexpected_negative
    ),
    "uds-unexpected-positive": lambda r, d, p: assess_uds_unexpected_positive(
        r, as_of=d, params=p.uds_unexpected_positive
    ),
    "phq9-worsening": lambda r, d, p: assess_phq9_worsening(r, as_of=d, params=p.phq9_worsening),
    "phq9-suicidality": lambda r, d, p: assess_phq9_suicidality(
        r, as_of=d, params=p.phq9_suicidality
    ),
}


def check_rules(names: Iterable[str]) -> frozenset[str]:
    """Validate configured rule ids against the registry."""
    chosen = frozenset(names)
    unknown = sorted(chosen - RULES.keys())
    if unknown:
        raise ValueError(f"unknown rule {unknown[0]!r}; valid rules: {', '.join(RULES)}")
    return chosen


RulePlan = tuple[tuple[Rule, Need], ...]


def rule_plan(params: AnalysisParams) -> RulePlan:
    """The enabled rules in registry order, each with its prerequisite: worked out once per
    run instead of once per patient (analyze_stage passes it to every analyze_patient)."""
    enabled = params.rules if params.rules is not None else frozenset(RULES)
    return tuple(
        (rule, RULE_NEEDS[name])
        for name, rule in RULES.items()
        if rule is not None and name in enabled
    )


def rules_to_run(plan: RulePlan, profile: RuleProfile, params: AnalysisParams) -> tuple[Rule, ...]:
    """The plan's rules whose prerequisite holds for a patient with this profile."""
    return tuple(rule for rule, need in plan if need(profile, params))


def analyze_patient(
    records: PatientRecords,
    *,
    as_of: date,
    params: AnalysisParams | None = None,
    rules: tuple[Rule, ...] | None = None,
) -> PatientAnalysis:
    """Adherence measures and findings of every enabled rule for one patient.

    `rules` is `rules_to_run(rule_plan(params), rule_profile(records), params)` when the caller
    has it: the analyze stage keeps the rule profile with the stored records, and one list of
    rules per distinct profile.
    """
    params = params or AnalysisParams()
    # The days-supply chain across resources first, so every rule sees the same supply.
    records = resolve_supply(records)
    adherence = assess_adherence(records, as_of=as_of, params=params.adherence)
    findings: list[Finding] = []
    # Nobody acts on an alert about a patient who has died (Patient.deceased): no rule runs.
    if records.deceased is None or records.deceased > as_of:
        if params.rules is None or "pdc-below-threshold" in params.rules:
            findings.extend(adherence.findings)
        if rules is None:
            # A rule whose prerequisite fails could return nothing: skipping it saves its work.
            rules = rules_to_run(rule_plan(params), rule_profile(records), params)
        for rule in rules:
            findings.extend(rule(records, as_of, params))
    return PatientAnalysis(
        findings=tuple(sorted(findings, key=sort_key)) if len(findings) > 1 else tuple(findings),
        adherence=adherence.results,
        skipped=adherence.skipped,
        imputed=tuple(imputed(records)),
    )
