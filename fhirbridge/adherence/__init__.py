"""Adherence: pure measures (PDC, MOUD continuity, AMM) and warning-sign rules. No I/O, no clock."""

from fhirbridge.adherence.amm import AmmResult, assess_amm
from fhirbridge.adherence.codes import ObservationCodes, Result, load_observation_codes
from fhirbridge.adherence.continuity import Episode, assess_moud_gap, episodes
from fhirbridge.adherence.coverage import (
    Interval,
    carry_over,
    carry_over_days,
    coverage_by_ingredient,
    gaps,
    merged,
    plain,
    select_fills,
    union_days,
)
from fhirbridge.adherence.inpatient import Censor
from fhirbridge.adherence.params import (
    RULE_PARAMS,
    AmmParams,
    MoudGapParams,
    Phq9SuicidalityParams,
    Phq9WorseningParams,
    RefillParams,
    SleepParams,
    UdsNegativeParams,
    UdsPositiveParams,
    build_params,
    params_schema,
)
from fhirbridge.adherence.pdc import PdcOutcome, PdcResult, pdc
from fhirbridge.adherence.phq9 import assess_phq9_suicidality, assess_phq9_worsening
from fhirbridge.adherence.refill import assess_refill_overdue
from fhirbridge.adherence.rules import Measure, assess_adherence
from fhirbridge.adherence.screens import (
    assess_uds_unexpected_negative,
    assess_uds_unexpected_positive,
)
from fhirbridge.adherence.supply import imputed, resolve_supply
from fhirbridge.adherence.timeline import Timeline, build_timeline

__all__ = [
    "RULE_PARAMS",
    "AmmParams",
    "AmmResult",
    "Censor",
    "Episode",
    "Interval",
    "Measure",
    "MoudGapParams",
    "ObservationCodes",
    "PdcOutcome",
    "PdcResult",
    "Phq9SuicidalityParams",
    "Phq9WorseningParams",
    "RefillParams",
    "Result",
    "SleepParams",
    "Timeline",
    "UdsNegativeParams",
    "UdsPositiveParams",
    "assess_adherence",
    "assess_amm",
    "assess_moud_gap",
    "assess_phq9_suicidality",
    "assess_phq9_worsening",
    "assess_refill_overdue",
    "assess_uds_unexpected_negative",
    "assess_uds_unexpected_positive",
    "build_params",
    "build_timeline",
    "carry_over",
    "carry_over_days",
    "coverage_by_ingredient",
    "episodes",
    "gaps",
    "imputed",
    "load_observation_codes",
    "merged",
    "params_schema",
    "pdc",
    "plain",
    "resolve_supply",
    "select_fills",
    "union_days",
]
