"""Pure: the reconciliation rules' parameters: registry, JSON Schema, construction.

Each rule's parameters are a frozen dataclass next to the rule (defaults and their sources in
comments, bounds in field metadata). This module lists them by rule id, in CONTRACT.md order,
with the AnalysisParams attribute that holds them, and derives the JSON Schema that
settings.py validates `[analysis.rules.<rule id>]` with, so a bad value stops start-up with
the file, the path and the problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from fhirbridge.reconciliation.discrepancy import DiscrepancyParams
from fhirbridge.reconciliation.duplicates import DuplicateParams
from fhirbridge.reconciliation.methadone_qt import MethadoneQtParams
from fhirbridge.reconciliation.naloxone import NaloxoneParams
from fhirbridge.reconciliation.naltrexone import NaltrexoneParams
from fhirbridge.reconciliation.oud_untreated import OudUntreatedParams
from fhirbridge.reconciliation.prescribers import MultiplePrescribersParams
from fhirbridge.reconciliation.sedatives import SedativeParams
from fhirbridge.reconciliation.serotonergic import MaoiParams, SerotonergicOpioidParams
from fhirbridge.reconciliation.suppression import SuppressionParams

# rule id → (AnalysisParams attribute, parameter class), CONTRACT.md order.
RULE_PARAMS: dict[str, tuple[str, type[Any]]] = {
    "opioid-benzodiazepine": ("opioid_benzodiazepine", SedativeParams),
    "opioid-gabapentinoid": ("opioid_gabapentinoid", SedativeParams),
    "opioid-sedative-hypnotic": ("opioid_sedative_hypnotic", SedativeParams),
    "naltrexone-opioid": ("naltrexone_opioid", NaltrexoneParams),
    "serotonergic-maoi": ("serotonergic_maoi", MaoiParams),
    "serotonergic-opioid": ("serotonergic_opioid", SerotonergicOpioidParams),
    "naloxone-missing": ("naloxone_missing", NaloxoneParams),
    "duplicate-therapy": ("duplicate_therapy", DuplicateParams),
    "multiple-prescribers": ("multiple_prescribers", MultiplePrescribersParams),
    "medication-list-discrepancy": ("medication_list_discrepancy", DiscrepancyParams),
    "oud-untreated": ("oud_untreated", OudUntreatedParams),
    "methadone-qt": ("methadone_qt", MethadoneQtParams),
}

# Drug classes (CONTRACT.md "Adherence groups and drug classes"): a `classes` parameter may name
# only these, so a misspelt class stops start-up instead of silently matching nothing.
DRUG_CLASSES = (
    "buprenorphine",
    "methadone",
    "naltrexone",
    "naloxone-rescue",
    "opioid-analgesic",
    "benzodiazepine",
    "z-drug",
    "gabapentinoid",
    "ssri",
    "snri",
    "maoi",
    "antidepressant-other",
    "antipsychotic",
    "mood-stabilizer",
)
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "tuple[str, ...]": _STRINGS,
    "frozenset[str]": _STRINGS,
}


def params_schema(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of a parameter dataclass: its fields, types and bounds, nothing else."""
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = dict(_TYPES[str(f.type)])
        schema.update({k: v for k, v in f.metadata.items() if k in ("minimum", "maximum")})
        if f.name.endswith("classes"):
            schema["items"] = {"enum": list(DRUG_CLASSES)}
        properties[f.name] = schema
    return {"type": "object", "additionalProperties": False, "properties": properties}


def build_params(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """An instance from validated configuration values (lists become tuples or frozensets)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            if str(f.type) == "tuple[str, ...]":
                value = tuple(value)
            elif str(f.type) == "frozenset[str]":
                value = frozenset(value)
            values[f.name] = value
    return cls(**values)


SUPPRESSION_SCHEMA = params_schema(SuppressionParams)
