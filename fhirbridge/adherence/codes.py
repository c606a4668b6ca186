"""Observation code table (`config/loinc-screens.toml`) and the reading of screen results.

Urine drug screens arrive in every form labs use (clinical-anchors.md 3.2: the CDC CDS reads
only strings and misses the rest): a coded value (Detected / Not detected, Positive /
Negative), a string ("POS", "negative"), a quantity against a cutoff, or only an
interpretation (POS, NEG, DET, ND). `read_result` tries them in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fhirbridge.errors import ConfigError
from fhirbridge.records import ObservationRecord
from fhirbridge.tomlfiles import read_toml

LOINC = "http://loinc.org"

_STRINGS = {"type": "array", "items": {"type": "string"}}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["results", "scores", "analytes", "uds"],
    "properties": {
        "results": {
            "type": "object",
            "required": [
                "positive",
                "negative",
                "interpretation_positive",
                "interpretation_negative",
                "text_positive",
                "text_negative",
            ],
            "additionalProperties": _STRINGS,
        },
        "scores": {
            "type": "object",
            "required": ["phq9_total", "phq9_item9", "sleep_duration", "promis_sleep_disturbance"],
        },
        "analytes": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"classes": _STRINGS, "ingredients": _STRINGS},
                "additionalProperties": False,
            },
        },
        "uds": {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]{1,7}-[0-9]$"},
            "additionalProperties": {
                "type": "object",
                "required": ["analyte", "name", "source"],
                "properties": {
                    "analyte": {"type": "string"},
                    "name": {"type": "string"},
                    "cutoff": {"type": "number", "exclusiveMinimum": 0},
                    "source": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
    },
}


class Result(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class Analyte:
    """A screened substance and the prescriptions that account for it."""

    name: str
    classes: frozenset[str]
    ingredients: frozenset[str]


@dataclass(frozen=True, slots=True)
class ObservationCodes:
    """The loaded table; build with `load_observation_codes`."""

    uds: dict[str, tuple[str, float | None]]  # "system|code" → (analyte, cutoff)
    analytes: dict[str, Analyte]
    positive: frozenset[str]
    negative: frozenset[str]
    interpretation_positive: frozenset[str]
    interpretation_negative: frozenset[str]
    text_positive: frozenset[str]
    text_negative: frozenset[str]
    phq9_total: str
    phq9_item9: str
    sleep_duration: str
    promis_sleep_disturbance: str
    item_answers: dict[str, int]

    def analyte_of(self, obs: ObservationRecord) -> tuple[str, float | None] | None:
        """The screened analyte (and cutoff) of an Observation, when it is a known UDS test."""
        for code in obs.codes:
            found = self.uds.get(code)
            if found is not None:
                return found
        return None

    def read_result(self, obs: ObservationRecord, cutoff: float | None) -> Result | None:
        """Positive, negative, or None when no form of the value can be read."""
        if obs.value_codes & self.negative:
            return Result.NEGATIVE
        if obs.value_codes & self.positive:
            return Result.POSITIVE
        text = (obs.value_text or "").strip().lower()
        if _says(text, self.text_negative):
            return Result.NEGATIVE
        if _says(text, self.text_positive):
            return Result.POSITIVE
        if obs.value_number is not None and cutoff is not None:
            return Result.POSITIVE if obs.value_number >= cutoff else Result.NEGATIVE
        if obs.interpretation & self.interpretation_negative:
            return Result.NEGATIVE
        if obs.interpretation & self.interpretation_positive:
            return Result.POSITIVE
        return None


def _says(text: str, terms: frozenset[str]) -> bool:
    """The whole text is a term, or starts with one followed by a separator ("POS (>5 ng/mL)")."""
    return bool(text) and any(
        text == t or (text.startswith(t) and text[len(t)] in " (,;:") for t in terms
    )


def default_path() -> Path:
    return Path(str(resources.files("fhirbridge") / "config" / "loinc-screens.toml"))


@cache
def load_observation_codes(path: Path | None = None) -> ObservationCodes:
    """Load and validate the table (cached: the rules consult it for every patient).

    Raises:
        ConfigError: naming the file, the path inside it and the problem.
    """
    path = path or default_path()
    data = read_toml(path, _SCHEMA)
    for code, entry in data["uds"].items():
        if entry["analyte"] not in data["analytes"]:
            raise ConfigError(str(path), f"uds/{code}/analyte", f"unknown {entry['analyte']!r}")
    results, scores = data["results"], data["scores"]
    return ObservationCodes(
        uds={f"{LOINC}|{c}": (e["analyte"], e.get("cutoff")) for c, e in data["uds"].items()},
        analytes={
            name: Analyte(
                name=name,
                classes=frozenset(a.get("classes", ())),
                ingredients=frozenset(a.get("ingredients", ())),
            )
            for name, a in data["analytes"].items()
        },
        **{k: frozenset(v) for k, v in results.items()},
        phq9_total=scores["phq9_total"],
        phq9_item9=scores["phq9_item9"],
        sleep_duration=scores["sleep_duration"],
        promis_sleep_disturbance=scores["promis_sleep_disturbance"],
        item_answers={k.lower(): int(v) for k, v in scores.get("item_answers", {}).items()},
    )
