"""Parameters of the adherence measures and monitoring rules, with their documented defaults.

Each value can be set in `[analysis.rules.<rule id>]` (settings.py validates it with the schema
`params_schema` derives here). Defaults name their source; where no published measure fixes a
number, the comment says it is fhirbridge's choice. Severities are not configurable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.findings import Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class MoudGapParams:
    """`moud-gap`: HEDIS POD continuity (clinical-anchors.md 1.3)."""

    # POD: "without a gap in treatment of 8 or more consecutive days".
    gap_days: int = field(default=8, metadata={"minimum": 1})
    lookback_days: int = field(default=180, metadata={"minimum": 1})  # POD treatment period
    # POD: a start with no MOUD in the 31 days before it is a new episode.
    new_episode_days: int = field(default=31, metadata={"minimum": 1})


@dataclass(frozen=True, slots=True, kw_only=True)
class RefillParams:
    """`refill-overdue`: the last supply ran out more than a grace period before as_of."""

    # fhirbridge's default: a week's slack for pharmacy and weekend delays.
    grace_days: int = field(default=7, metadata={"minimum": 0})
    # MOUD: 3 days; a lapse in buprenorphine is an overdose risk within days (HEDIS POD counts
    # an 8-day gap as discontinuation, so the warning must come well before it).
    grace_days_by_group: dict[str, int] = field(default_factory=lambda: {"moud": 3})
    # Supply that ended longer ago than this is a stopped therapy, not an overdue refill (the
    # stale active order is a medication-list problem); the PDC window by default.
    lookback_days: int = field(default=365, metadata={"minimum": 1})
    severity_by_group: dict[str, Severity] = field(default_factory=lambda: {"moud": Severity.HIGH})


@dataclass(frozen=True, slots=True, kw_only=True)
class UdsNegativeParams:
    """`uds-unexpected-negative` (CDC 2022 recommendation 10)."""

    # A screen older than this is not an early warning any more. CDC REC10 looks back 12 months
    # for its card; set 366 to match it.
    lookback_days: int = field(default=90, metadata={"minimum": 1})
    # Analytes that must be present while the drug is prescribed and covering the specimen day
    # (names in [analytes] of config/loinc-screens.toml).
    analytes: tuple[str, ...] = ("buprenorphine", "methadone")


@dataclass(frozen=True, slots=True, kw_only=True)
class UdsPositiveParams:
    """`uds-unexpected-positive` (CDC 2022 recommendation 10)."""

    lookback_days: int = field(default=90, metadata={"minimum": 1})  # as for negatives
    # A positive is explained by a prescription whose supply covered any of these days up to
    # the specimen (detection windows run from days to weeks; fhirbridge's choice).
    prescribed_lookback_days: int = field(default=30, metadata={"minimum": 1})
    # Analytes whose positive result is unexpected without a prescription.
    analytes: tuple[str, ...] = (
        "fentanyl",
        "opiates",
        "benzodiazepines",
        "cocaine",
        "phencyclidine",
    )
    # Fentanyl in the urine of a patient not prescribed it is an overdose risk: high.
    high_severity: tuple[str, ...] = ("fentanyl",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Phq9WorseningParams:
    """`phq9-worsening` (PHQ-9, Kroenke 2001)."""

    lookback_days: int = field(default=90, metadata={"minimum": 1})  # latest total this recent
    rise_points: int = field(default=5, metadata={"minimum": 1})  # clinically meaningful change
    compare_days: int = field(default=90, metadata={"minimum": 1})  # previous total this close
    severe_score: int = field(default=20, metadata={"minimum": 1, "maximum": 27})  # 20-27 severe


@dataclass(frozen=True, slots=True, kw_only=True)
class Phq9SuicidalityParams:
    """`phq9-suicidality`: PHQ-9 item 9 above zero."""

    lookback_days: int = field(default=90, metadata={"minimum": 1})  # answers this recent


@dataclass(frozen=True, slots=True, kw_only=True)
class AmmParams:
    """HEDIS Antidepressant Medication Management phases (clinical-anchors.md 1.4)."""

    negative_history_days: int = 105  # no antidepressant fill in the 105 days before the IPSD
    acute_days: int = 84  # 12 weeks of treatment …
    acute_window: int = 115  # … within IPSD through IPSD + 114
    continuation_days: int = 180  # 6 months of treatment …
    continuation_window: int = 232  # … within IPSD through IPSD + 231


@dataclass(frozen=True, slots=True, kw_only=True)
class SleepParams:
    """Poor-sleep signals on the timeline (no finding: CONTRACT.md has no sleep rule)."""

    # AASM/SRS consensus (Watson et al., Sleep 2015): adults should sleep 7 or more hours.
    short_sleep_hours: float = 7.0
    # PROMIS Sleep Disturbance T-score: 60-69.9 moderate, 70+ severe (PROMIS interpretation).
    promis_t_score: float = 60.0


# rule id → (AnalysisParams attribute, parameter class), CONTRACT.md order.
RULE_PARAMS: dict[str, tuple[str, type[Any]]] = {
    "refill-overdue": ("refill_overdue", RefillParams),
    "moud-gap": ("moud_gap", MoudGapParams),
    "uds-unexpected-negative": ("uds_unexpected_negative", UdsNegativeParams),
    "uds-unexpected-positive": ("uds_unexpected_positive", UdsPositiveParams),
    "phq9-worsening": ("phq9_worsening", Phq9WorseningParams),
    "phq9-suicidality": ("phq9_suicidality", Phq9SuicidalityParams),
}
GROUPS = ("moud", "antidepressant", "antipsychotic", "mood-stabilizer")  # CONTRACT.md
ANALYTES = (
    "buprenorphine",
    "methadone",
    "fentanyl",
    "opiates",
    "benzodiazepines",
    "cocaine",
    "phencyclidine",
)  # [analytes] of config/loinc-screens.toml
_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "tuple[str, ...]": {"type": "array", "items": {"enum": list(ANALYTES)}, "uniqueItems": True},
    "dict[str, int]": {
        "type": "object",
        "propertyNames": {"enum": list(GROUPS)},
        "additionalProperties": {"type": "integer", "minimum": 0},
    },
}


def params_schema(cls: type[Any]) -> dict[str, Any]:
    """JSON Schema of a parameter dataclass: its configurable fields, types and bounds."""
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if str(f.type) in _TYPES:
            schema = dict(_TYPES[str(f.type)])
            schema.update({k: v for k, v in f.metadata.items() if k in ("minimum", "maximum")})
            properties[f.name] = schema
    return {"type": "object", "additionalProperties": False, "properties": properties}


def build_params(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """An instance from validated configuration values.

    Lists become tuples; a per-group table is merged into the default one, so setting
    `grace_days_by_group = { antidepressant = 5 }` keeps MOUD's 3 days.
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if str(f.type) == "tuple[str, ...]":
            value = tuple(value)
        elif str(f.type) == "dict[str, int]" and callable(f.default_factory):
            value = {**f.default_factory(), **value}
        values[f.name] = value
    return cls(**values)
