"""Pure: what the cross-prescriber rules share: supply, windows, coverage overlap, wording.

Overlap is judged on coverage intervals from the adherence engine (adherence/coverage.py: per
product, dispenses when there are any, else orders; PQA carry-over within a product), never on
`status` alone (CONTRACT.md). Days are ordinals (`date.toordinal()`), both ends counted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from fhirbridge.adherence.coverage import Interval, coverage_by_ingredient, merged
from fhirbridge.records import STATEMENT, MedicationEvent, PatientRecords
from fhirbridge.slotted import direct_init

# Opioid agonists: analgesics, and buprenorphine and methadone (MOUD, or methadone for pain).
OPIOID_CLASSES = frozenset({"opioid-analgesic", "buprenorphine", "methadone"})
MOUD_AGONIST_CLASSES = frozenset({"buprenorphine", "methadone"})
MOUD_CLASSES = frozenset({"buprenorphine", "methadone", "naltrexone"})

# FDA Drug Safety Communication 2017-09-20: MOUD is never withheld because of a CNS
# depressant; the advice is coordination. Every rule that involves MOUD words it this way.
MOUD_NOT_WITHHELD = (
    "FDA (2017): buprenorphine and methadone should **not be withheld** from patients taking "
    "CNS depressants; untreated opioid use disorder can cause more harm than the combination."
)

Run = tuple[int, int]  # covered days [start, end], both counted


@dataclass(frozen=True, slots=True)
class Window:
    """The days [first, last] a rule looks at, ending on as_of."""

    first: int
    last: int

    @classmethod
    def ending(cls, as_of: date, days: int) -> Window:
        last = as_of.toordinal()
        return cls(first=last - days + 1, last=last)

    def touches(self, start: int, end: int) -> bool:
        return start <= self.last and end >= self.first


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Overlap:
    """Days on which two sets of drugs were both supplied, and the fills behind them."""

    runs: tuple[Run, ...]  # overlapping days inside the window, sorted
    refs: tuple[str, ...]  # the fills (orders or dispenses) covering those days, sorted

    @property
    def days(self) -> int:
        return sum(end - start + 1 for start, end in self.runs)

    @property
    def first_day(self) -> str:
        return iso(self.runs[0][0])

    @property
    def longest(self) -> int:
        return max(end - start + 1 for start, end in self.runs)


def iso(day: int) -> str:
    return date.fromordinal(day).isoformat()


def supply(records: PatientRecords) -> list[MedicationEvent]:
    """Orders and dispenses: statements report use, they are not supply."""
    return [e for e in records.events if e.kind is not STATEMENT]


def with_classes(
    events: Iterable[MedicationEvent], classes: Collection[str]
) -> list[MedicationEvent]:
    wanted = frozenset(classes)
    return [e for e in events if not wanted.isdisjoint(e.drug.classes)]


def with_ingredients(
    events: Iterable[MedicationEvent], ingredients: Collection[str]
) -> list[MedicationEvent]:
    wanted = frozenset(ingredients)
    return [e for e in events if not wanted.isdisjoint(e.drug.ingredients)]


def coverage(events: Iterable[MedicationEvent]) -> list[Interval]:
    """Every product's supply intervals (coverage_by_ingredient), flattened."""
    return [i for intervals in coverage_by_ingredient(events).values() for i in intervals]


def overlap(left: Sequence[Interval], right: Sequence[Interval], window: Window) -> Overlap | None:
    """Where the two coverages meet inside the window, or None."""
    runs: list[Run] = []
    for a_start, a_end in merged(left):
        for b_start, b_end in merged(right):
            start, end = max(a_start, b_start, window.first), min(a_end, b_end, window.last)
            if start <= end:
                runs.append((start, end))
    if not runs:
        return None
    refs = {
        i.ref for i in (*left, *right) for start, end in runs if i.start <= end and i.end >= start
    }
    return Overlap(runs=tuple(sorted(runs)), refs=tuple(sorted(refs)))


def exposed(events: Iterable[MedicationEvent], window: Window) -> list[MedicationEvent]:
    """Events that put the drug in the patient's hands during the window.

    A fill whose coverage touches the window; or, when no days supply could be derived (it is
    then never guessed), an order or dispense dated inside the window: a prescription issued
    in the window is exposure even when its duration is unknown.
    """
    chosen = list(events)
    refs = {i.ref for i in coverage(chosen) if window.touches(i.start, i.end)}
    refs.update(
        e.ref
        for e in chosen
        if e.days_supply is None and window.first <= e.start.toordinal() <= window.last
    )
    return [e for e in chosen if e.ref in refs]


def gap_starts(
    earlier: Sequence[Interval], later: Sequence[Interval], window: Window, within: int
) -> list[tuple[Run, Run]]:
    """(earlier run, later run) where the later drug starts within `within` days after the
    earlier drug's supply ended, the start falling inside the window: a washout too short.

    A run that starts while the earlier drug is still supplied is an overlap, not a washout
    problem, and is left to `overlap`.
    """
    found: list[tuple[Run, Run]] = []
    for b_start, b_end in merged(later):
        if not window.first <= b_start <= window.last:
            continue
        for a_start, a_end in merged(earlier):
            if a_end < b_start <= a_end + within:
                found.append(((a_start, a_end), (b_start, b_end)))
    return found


def refs_in(intervals: Iterable[Interval], runs: Iterable[Run]) -> set[str]:
    """Refs of the intervals that cover any day of the runs."""
    spans = list(runs)
    return {i.ref for i in intervals for s, e in spans if i.start <= e and i.end >= s}


def names(events: Iterable[MedicationEvent], keep: Callable[[str], bool] | None = None) -> str:
    """'oxycodone/tramadol': the ingredients of the events, naloxone left out of combinations."""
    found: set[str] = set()
    for event in events:
        for ingredient in event.drug.ingredients or (event.drug.display,):
            if ingredient == "naloxone" and len(event.drug.ingredients) > 1:
                continue  # the abuse deterrent in buprenorphine/naloxone, not a drug of its own
            if keep is None or keep(ingredient):
                found.add(ingredient)
    return "/".join(sorted(found))


def roles(records: PatientRecords, prescribers: Iterable[str]) -> str:
    """' Prescribers: Practitioner/1 (addiction), Practitioner/2 (psychiatric).' or ''."""
    described = [
        f"{p} ({records.prescribers[p].role.value})" if p in records.prescribers else p
        for p in sorted(prescribers)
    ]
    return " Prescribers: " + ", ".join(described) + "." if described else ""


def practitioners(records: PatientRecords, refs: Iterable[str]) -> tuple[str, ...]:
    """The prescribers behind events (records.prescribers_of), practitioners only: a
    statement's informationSource is often the patient, who is not a prescriber."""
    return tuple(
        p
        for p in records.prescribers_of(list(refs))
        if p.startswith(("Practitioner/", "PractitionerRole/"))
    )


def summary(text: str) -> str:
    """A summary inside the contract's limit (under 140 characters), cut at a word."""
    if len(text) < 140:
        return text
    return text[:136].rsplit(" ", 1)[0] + " ..."
