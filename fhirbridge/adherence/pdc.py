"""Pure: Proportion of Days Covered per adherence group (PQA method, CONTRACT.md).

Window: the `window_days` ending on `as_of`. Index date: the first fill in the window. Period:
index date through as_of, both counted. A patient needs at least two fills on different dates
in the window (PQA denominator, clinical-anchors.md 1.1). Supply past as_of is cut off. Value
rounded to 4 decimals before the threshold comparison, as most PQA implementations do.

Inpatient stays are censored (adherence/inpatient.py): their days leave the period and supply
on hand is shifted past discharge. PQA also wants the index date at least 91 days before the
period end; `min_period_days` sets that (default 0: every period is reported, see README).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirbridge.adherence.coverage import START_REF, covered_days, select_fills
from fhirbridge.adherence.inpatient import Censor
from fhirbridge.records import InpatientStay, MedicationEvent
from fhirbridge.slotted import direct_init


@direct_init
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
    censored_days: int = 0  # inpatient days taken out of the period (not in adherence.ndjson)

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


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PdcOutcome:
    """A result, or None with the fills that were skipped and why."""

    result: PdcResult | None
    skipped: tuple[tuple[str, str], ...]  # (ref, reason) for fills that could not count
    excluded: str | None = None  # why there is no result: too-few-fills, period-too-short, ...


def pdc(
    patient: str,
    group: str,
    events: Iterable[MedicationEvent],
    *,
    as_of: date,
    window_days: int = 365,
    threshold: float = 0.80,
    stays: Sequence[InpatientStay] = (),
    min_period_days: int = 0,
    basis: str | None = None,
) -> PdcOutcome:
    """PDC for one patient and one adherence group.

    Args:
        events: the patient's orders and dispenses in this group (statements are ignored).
        as_of: the last day of the window and of the period.
        stays: the patient's inpatient stays, censored from the period.
        min_period_days: days the index date must precede as_of (PQA: 91); 0 reports all.
        basis: when the caller has selected the fills already (assess_adherence does, once for
            PDC and AMM), their basis; `events` are then `select_fills`' fills in `START_REF`
            order.

    Returns:
        The result, or `result=None` with the reason in `excluded` (fewer than two fills on
        different dates in the window, a period shorter than `min_period_days`, or a period
        spent wholly in hospital); `skipped` lists fills without a derivable days supply.
    """
    # By ordinal: `timedelta(days=n)` costs 0.5 µs, and pdc runs per patient and group.
    window_start = date.fromordinal(as_of.toordinal() - window_days + 1)
    if basis is None:
        fills, basis = select_fills(events)
        fills.sort(key=START_REF)
    else:
        fills = events if isinstance(events, list) else list(events)
    usable: list[MedicationEvent] = []
    unsupplied: list[tuple[str, str]] = []
    for f in fills:
        if window_start <= f.start <= as_of:
            if f.days_supply:
                usable.append(f)
            else:
                unsupplied.append((f.ref, "no-days-supply"))
    skipped = tuple(sorted(unsupplied))
    # In date order, two fills on different dates exist iff the first and last dates differ.
    if not usable or usable[0].start == usable[-1].start:
        return PdcOutcome(result=None, skipped=skipped, excluded="too-few-fills")
    index = usable[0].start
    if (as_of - index).days < min_period_days:
        return PdcOutcome(result=None, skipped=skipped, excluded="period-too-short")
    supplies = [
        (f.start.toordinal(), f.days_supply or 0, f.drug.ingredients or (f.drug.display,), f.ref)
        for f in usable
    ]
    first, last = index.toordinal(), as_of.toordinal()
    censor = Censor.of(stays, as_of) if stays else None
    if censor:
        position = censor.position
        first, last = position(first), censor.last(last)
        supplies = [(position(day), n, drug, ref) for day, n, drug, ref in supplies]
    days = last - first + 1
    if days <= 0:
        return PdcOutcome(result=None, skipped=skipped, excluded="period-censored")
    covered = covered_days(supplies, first, last)
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
            fills=tuple([f.ref for f in usable]),
            basis=basis,
            censored_days=(as_of - index).days + 1 - days,
        ),
        skipped=skipped,
    )
