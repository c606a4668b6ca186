"""Pure: Proportion of Days Covered per adherence group (PQA method, CONTRACT.md).

Window: the `window_days` ending on `as_of`. Index date: the first fill in the window. Period:
index date through as_of, both counted. A patient needs at least two fills on different dates
in the window (PQA denominator, clinical-anchors.md 1.1). Supply past as_of is cut off. Value
rounded to 4 decimals before the threshold comparison, as most PQA implementations do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fhirbridge.adherence.coverage import carry_over, select_fills, union_days
from fhirbridge.records import MedicationEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class PdcResult:
    """One adherence.ndjson line."""

    patient: str
    group: str
    value: float  # rounded to 4 decimals
    adherent: bool
    period_start: date
    period_end: date
    days_covered: int
    days_in_period: int
    fills: tuple[str, ...]  # refs of the fills counted, in date order
    basis: str  # "dispense" | "order"

    def to_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "group": self.group,
            "measure": "PDC",
            "value": self.value,
            "adherent": self.adherent,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "days_covered": self.days_covered,
            "days_in_period": self.days_in_period,
            "fills": len(self.fills),
            "basis": self.basis,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PdcOutcome:
    """A result, or None with the fills that were skipped and why."""

    result: PdcResult | None
    skipped: tuple[tuple[str, str], ...]  # (ref, reason) for fills that could not count


def pdc(
    patient: str,
    group: str,
    events: Iterable[MedicationEvent],
    *,
    as_of: date,
    window_days: int = 365,
    threshold: float = 0.80,
) -> PdcOutcome:
    """PDC for one patient and one adherence group.

    Args:
        events: the patient's orders and dispenses in this group (statements are ignored).
        as_of: the last day of the window and of the period.

    Returns:
        The result, or `result=None` when the patient has fewer than two fills on different
        dates in the window; `skipped` lists fills without a derivable days supply.
    """
    window_start = as_of - timedelta(days=window_days - 1)
    fills, basis = select_fills(events)
    in_window = [f for f in fills if window_start <= f.start <= as_of]
    skipped = tuple(sorted((f.ref, "no-days-supply") for f in in_window if not f.days_supply))
    usable = [f for f in in_window if f.days_supply]
    if len({f.start for f in usable}) < 2:
        return PdcOutcome(result=None, skipped=skipped)
    index = min(f.start for f in usable)
    first, last = index.toordinal(), as_of.toordinal()
    covered = union_days(carry_over(usable), first, last)
    days = last - first + 1
    value = round(covered / days, 4)
    return PdcOutcome(
        result=PdcResult(
            patient=patient,
            group=group,
            value=value,
            adherent=value >= threshold,
            period_start=index,
            period_end=as_of,
            days_covered=covered,
            days_in_period=days,
            fills=tuple(f.ref for f in sorted(usable, key=lambda f: (f.start, f.ref))),
            basis=basis,
        ),
        skipped=skipped,
    )
