"""Adherence: pure PDC and coverage over records and an explicit as_of. No I/O, no clock."""

from fhirbridge.adherence.coverage import (
    Interval,
    carry_over,
    coverage_by_ingredient,
    merged,
    plain,
    select_fills,
    union_days,
)
from fhirbridge.adherence.pdc import PdcOutcome, PdcResult, pdc
from fhirbridge.adherence.rules import assess_adherence

__all__ = [
    "Interval",
    "PdcOutcome",
    "PdcResult",
    "assess_adherence",
    "carry_over",
    "coverage_by_ingredient",
    "merged",
    "pdc",
    "plain",
    "select_fills",
    "union_days",
]
