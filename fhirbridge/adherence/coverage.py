"""Pure: supply events → covered day intervals, with the PQA carry-over rule.

Days are ordinals (`date.toordinal()`) so interval arithmetic is integer arithmetic. Carry-over
(PQA PDC step 2, clinical-anchors.md 1.1): when fills of the same ingredient overlap, the later
fill starts the day after the earlier supply ends; this also holds between a single-ingredient
product and a combination that contains it, and between combinations sharing an ingredient.
Fills of different ingredients are not shifted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter

from fhirbridge.records import DISPENSE, ORDER, MedicationEvent
from fhirbridge.slotted import direct_init, slot_builder


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """Days covered by one fill, after carry-over: [start, end], both counted."""

    start: int  # ordinal day
    end: int  # ordinal day, inclusive
    ref: str  # the fill behind it
    ingredients: tuple[str, ...]


# Intervals are made by the dozen per patient for the overlap and continuity rules.
_INTERVAL: Callable[[tuple[int, int, str, tuple[str, ...]]], Interval] = slot_builder(Interval)


def select_fills(events: Iterable[MedicationEvent]) -> tuple[list[MedicationEvent], str]:
    """Dispenses when there are any, else orders (CONTRACT.md); with the basis name.

    Statements are reports of use, not supply, and never count as fills.
    """
    dispenses: list[MedicationEvent] = []
    orders: list[MedicationEvent] = []
    for event in events:
        if event.kind is DISPENSE:
            dispenses.append(event)
        elif event.kind is ORDER:
            orders.append(event)
    if dispenses:
        return dispenses, "dispense"
    return orders, "order"


def carry_over(fills: Sequence[MedicationEvent]) -> list[Interval]:
    """Supply intervals for fills that have a days supply, shifted per PQA carry-over.

    Fills are taken in date order (ties by reference, so input order never matters); each
    starts no earlier than the day after the last supply of any ingredient it shares.
    """
    return carry_over_days(
        (f.start.toordinal(), f.days_supply, f.drug.ingredients or (f.drug.display,), f.ref)
        for f in fills
        if f.days_supply
    )


Supply = tuple[int, int, tuple[str, ...], str]  # (first day, days supply, ingredients, ref)
_START_REF = itemgetter(0, 3)  # fills in date order, ties by reference: input order never matters
START_REF = attrgetter("start", "ref")  # the same order on MedicationEvents


def carry_over_days(supplies: Iterable[Supply]) -> list[Interval]:
    """The carry-over of `carry_over` on plain day numbers (ordinals, or censored positions).

    Inpatient censoring (adherence/inpatient.py) passes positions with the stay days taken
    out; everything else passes ordinals. Supplies of zero days or fewer are ignored.
    """
    free_from: dict[str, int] = {}  # ingredient → first day not yet covered by its supply
    intervals: list[Interval] = []
    for start, days, ingredients, ref in sorted(supplies, key=_START_REF):
        if days <= 0:
            continue
        for ingredient in ingredients:
            start = max(start, free_from.get(ingredient, start))
        end = start + days - 1
        for ingredient in ingredients:
            free_from[ingredient] = end + 1
        intervals.append(_INTERVAL((start, end, ref, ingredients)))
    return intervals


def plain(fills: Sequence[MedicationEvent]) -> list[Interval]:
    """Supply intervals without any shift: each fill covers its own days (for overlap rules)."""
    return [
        _INTERVAL(
            (
                f.start.toordinal(),
                f.start.toordinal() + f.days_supply - 1,
                f.ref,
                f.drug.ingredients,
            )
        )
        for f in sorted(fills, key=START_REF)
        if f.days_supply
    ]


def covered_days(supplies: Iterable[Supply], first: int, last: int) -> int:
    """Days in [first, last] covered after carry-over: `union_days(carry_over_days(...))` fused.

    The PDC core. It makes no Interval objects. One carry-over chain in date order (what
    `pdc()` passes for a single product) takes a sum in one pass, without sorting; any other
    input takes the general path. Equal to the day-set baseline (bench/README.md) on any input.
    """
    items = supplies if isinstance(supplies, list) else list(supplies)
    if not items or last < first:
        return _covered_days_merged(items, first, last)
    # Fast path: every supply of more than zero days has the same non-empty ingredients (one
    # carry-over chain) and starts, in input order, never decrease and lie in [first, last].
    # Proof that the result equals the general path's. Each fill shares an ingredient with every
    # earlier one, so PQA carry-over (module docstring) starts fill k at c_k = max(s_k, e_{k-1})
    # and ends it at e_k = c_k + d_k (exclusive). Fills with equal starts may come in any ref
    # order: a run of them after end E covers [max(s, E), max(s, E) + their total days) in any
    # order, so input order equals (start, ref) order for the union and for the chain end. The
    # fills [c_k, e_k) are disjoint and follow each other; a gap [e_{k-1}, s_k) ends before
    # s_k <= last, and c_1 = s_1 >= first. So within [first, ∞) every day of [first, e_n) but
    # the gaps is covered, all gaps lie in [first, last], and [last + 1, e_n) is covered in full:
    # covered days = sum of d_k - max(0, e_n - (last + 1)). Anything else breaks off to the
    # general path, which starts over on `items`: the fast loop has no side effects.
    chain = items[0][2]
    if not chain:  # no ingredients: carry-over never shifts these fills
        return _covered_days_merged(items, first, last)
    total, end, previous = 0, first, first
    for start, days, ingredients, _ in items:
        if days <= 0:
            continue
        if start < previous or start > last or (ingredients is not chain and ingredients != chain):
            return _covered_days_merged(items, first, last)
        previous = start
        total += days
        end = (start if start > end else end) + days
    stop = last + 1
    return total - end + stop if end > stop else total


def _covered_days_merged(supplies: Iterable[Supply], first: int, last: int) -> int:
    """`covered_days` for any input: carry-over in (start, ref) order, then a run merge.

    It sorts a second time only when carry-over put supplies out of order (several ingredients);
    otherwise one pass merges the runs.
    """
    free_from: dict[str, int] = {}
    spans: list[tuple[int, int]] = []
    ordered, previous = True, first
    for start, days, ingredients, _ in sorted(supplies, key=_START_REF):
        if days <= 0:
            continue
        for ingredient in ingredients:
            free = free_from.get(ingredient, start)
            if free > start:
                start = free
        end = start + days  # exclusive
        for ingredient in ingredients:
            free_from[ingredient] = end
        if start < previous:
            ordered = False
        previous = start
        spans.append((start, end))
    if not ordered:
        spans.sort()
    covered, run_start, run_end, stop = 0, first, first, last + 1
    for start, end in spans:
        start, end = max(start, first), min(end, stop)
        if start >= end:
            continue
        if start > run_end:
            covered += run_end - run_start
            run_start, run_end = start, end
        elif end > run_end:
            run_end = end
    return covered + run_end - run_start


def chain_end(supplies: Iterable[Supply]) -> tuple[int, str] | None:
    """(last covered day, ref of the fill that covers it) of supplies of one product.

    One product: every supply has the same ingredients, so PQA carry-over makes one chain in
    (start, ref) order, each fill starting at max(its start, the day after the last supply) and
    ending `days` later. With days above zero every fill ends after the one before it, so the
    last fill in that order ends last, and alone. None when no supply has days above zero.
    """
    free, last = None, None
    for start, days, _, ref in sorted(supplies, key=_START_REF):
        if days <= 0:
            continue
        free = (start if free is None or start > free else free) + days
        last = ref
    return None if free is None or last is None else (free - 1, last)


def union_days(intervals: Iterable[Interval], first: int, last: int) -> int:
    """Number of distinct days in [first, last] covered by any interval (a day counts once)."""
    clipped = sorted(
        (max(i.start, first), min(i.end, last))
        for i in intervals
        if i.end >= first and i.start <= last
    )
    covered = 0
    run_start, run_end = 0, -1
    for start, end in clipped:
        if start > run_end + 1:
            covered += run_end - run_start + 1 if run_end >= run_start else 0
            run_start, run_end = start, end
        else:
            run_end = max(run_end, end)
    if run_end >= run_start:
        covered += run_end - run_start + 1
    return covered


def gaps(runs: Sequence[tuple[int, int]], first: int, last: int) -> list[tuple[int, int]]:
    """Uncovered runs [start, end] inside [first, last], given merged covered runs."""
    found: list[tuple[int, int]] = []
    day = first
    for start, end in runs:
        if end < day:
            continue
        if start > last:
            break
        if start > day:
            found.append((day, start - 1))
        day = max(day, end + 1)
    if day <= last:
        found.append((day, last))
    return found


def merged(intervals: Iterable[Interval]) -> list[tuple[int, int]]:
    """Covered runs [start, end] after merging overlapping and adjacent intervals."""
    runs: list[tuple[int, int]] = []
    for start, end in sorted((i.start, i.end) for i in intervals):
        if runs and start <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return runs


def coverage_by_ingredient(
    events: Iterable[MedicationEvent], *, position: Callable[[int], int] | None = None
) -> dict[tuple[str, ...], list[Interval]]:
    """Supply intervals per product ingredients, each product choosing dispenses or orders.

    Used by overlap rules: a drug the pharmacy dispensed is judged on its dispenses; a drug
    known only from orders is judged on the orders (CONTRACT.md fill basis). `position` maps a
    fill's day to a censored position (adherence/inpatient.py); intervals are then positions.
    """
    by_drug: dict[tuple[str, ...], list[MedicationEvent]] = {}
    for event in events:
        by_drug.setdefault(event.drug.ingredients or (event.drug.display,), []).append(event)
    result: dict[tuple[str, ...], list[Interval]] = {}
    for drug, drug_events in sorted(by_drug.items()):
        fills, _ = select_fills(drug_events)
        if position is None:
            intervals = carry_over(fills)
        else:
            intervals = carry_over_days(
                (position(f.start.toordinal()), f.days_supply, drug, f.ref)
                for f in fills
                if f.days_supply
            )
        if intervals:
            result[drug] = intervals
    return result
