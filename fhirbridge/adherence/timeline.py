"""Pure: a patient's medication timeline, the data the API and the patient page draw.

Per adherence group: the covered days per ingredient (after carry-over and inpatient censoring,
back on the calendar), the merged coverage and its gaps; the fills with their days supply and
how it was found (imputed ones marked); the inpatient stays; MOUD treatment episodes; and the
warning-sign observations (urine drug screens with their reading, PHQ-9 totals and item 9,
sleep). Everything is dates and references, never names: the page resolves what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fhirbridge.adherence.codes import load_observation_codes
from fhirbridge.adherence.continuity import episodes
from fhirbridge.adherence.coverage import carry_over_days, gaps, merged, select_fills
from fhirbridge.adherence.inpatient import Censor
from fhirbridge.adherence.params import MoudGapParams, SleepParams
from fhirbridge.adherence.phq9 import score_of
from fhirbridge.adherence.screens import RESULT_STATUSES
from fhirbridge.records import STATEMENT, MedicationEvent, PatientRecords

Span = tuple[date, date]  # first and last day, both included


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    ref: str
    day: date
    kind: str  # dispense | order
    ingredients: tuple[str, ...]
    days_supply: int | None
    supply_basis: str  # daysSupply, quantity/daily-dose, order:…, pod-default:…, none
    imputed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupTrack:
    group: str  # adherence group
    basis: str  # dispense | order
    covered: tuple[Span, ...]  # merged coverage on the calendar (stay days excluded)
    gaps: tuple[Span, ...]  # uncovered runs from the first fill through as_of (stays excluded)
    by_ingredient: dict[str, tuple[tuple[date, date, str], ...]]  # (first, last, fill ref)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    ref: str  # "Observation/…"
    day: date
    kind: str  # uds | phq9-total | phq9-item9 | sleep-duration | sleep-disturbance
    label: str  # analyte, or the score name
    value: str  # "positive" / "negative", or the number as written
    warning: bool  # positive screen, item 9 above zero, PHQ-9 20+, poor sleep


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    patient: str
    as_of: date
    start: date  # the window's first day
    groups: tuple[GroupTrack, ...]
    fills: tuple[Fill, ...]
    stays: tuple[tuple[date, date, str], ...]  # (admission, discharge or as_of, Encounter ref)
    episodes: tuple[tuple[date, date, tuple[Span, ...]], ...]  # MOUD: (start, end, gaps 8+)
    signals: tuple[Signal, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (dates as YYYY-MM-DD) for the API."""

        def span(s: tuple[date, ...]) -> list[str]:
            return [d.isoformat() for d in s]

        return {
            "patient": self.patient,
            "as_of": self.as_of.isoformat(),
            "start": self.start.isoformat(),
            "groups": [
                {
                    "group": g.group,
                    "basis": g.basis,
                    "covered": [span(s) for s in g.covered],
                    "gaps": [span(s) for s in g.gaps],
                    "by_ingredient": {
                        name: [[a.isoformat(), b.isoformat(), ref] for a, b, ref in runs]
                        for name, runs in sorted(g.by_ingredient.items())
                    },
                }
                for g in self.groups
            ],
            "fills": [
                {
                    "ref": f.ref,
                    "day": f.day.isoformat(),
                    "kind": f.kind,
                    "ingredients": list(f.ingredients),
                    "days_supply": f.days_supply,
                    "supply_basis": f.supply_basis,
                    "imputed": f.imputed,
                }
                for f in self.fills
            ],
            "stays": [[a.isoformat(), b.isoformat(), ref] for a, b, ref in self.stays],
            "episodes": [
                {"start": a.isoformat(), "end": b.isoformat(), "gaps": [span(g) for g in holes]}
                for a, b, holes in self.episodes
            ],
            "signals": [
                {
                    "ref": s.ref,
                    "day": s.day.isoformat(),
                    "kind": s.kind,
                    "label": s.label,
                    "value": s.value,
                    "warning": s.warning,
                }
                for s in self.signals
            ],
        }


def build_timeline(
    records: PatientRecords,
    *,
    as_of: date,
    window_days: int = 365,
    sleep: SleepParams | None = None,
) -> Timeline:
    """The timeline of the `window_days` ending on as_of (records with supply resolved)."""
    start = as_of - timedelta(days=window_days - 1)
    censor = Censor.of(records.stays, as_of)
    by_group: dict[str, list[MedicationEvent]] = {}
    for event in records.events:
        if event.kind is not STATEMENT and event.start <= as_of:
            for group in event.drug.groups:
                by_group.setdefault(group, []).append(event)
    tracks = tuple(
        _track(group, events, censor, start, as_of) for group, events in sorted(by_group.items())
    )
    shown = {e.ref for events in by_group.values() for e in events}
    fills = tuple(
        Fill(
            ref=e.ref,
            day=e.start,
            kind=e.kind.value,
            ingredients=e.drug.ingredients,
            days_supply=e.days_supply,
            supply_basis=e.supply_basis,
            imputed=e.imputed,
        )
        for e in records.events
        if e.ref in shown and e.start >= start
    )
    return Timeline(
        patient=records.patient,
        as_of=as_of,
        start=start,
        groups=tracks,
        fills=fills,
        stays=tuple(
            (s.start, min(s.end or as_of, as_of), s.ref) for s in records.stays if s.start <= as_of
        ),
        episodes=tuple(
            (e.start, e.end, e.gaps)
            for e in episodes(records, as_of=as_of, params=MoudGapParams())
            if e.end >= start
        ),
        signals=_signals(records, as_of, start, sleep or SleepParams()),
    )


def _track(
    group: str, events: list[MedicationEvent], censor: Censor, start: date, as_of: date
) -> GroupTrack:
    fills, basis = select_fills(events)

    def position(day: int) -> int:
        return censor.position(day) if censor else day

    intervals = carry_over_days(
        (position(f.start.toordinal()), f.days_supply or 0, f.drug.ingredients, f.ref)
        for f in fills
        if f.days_supply
    )
    last = censor.last(as_of.toordinal()) if censor else as_of.toordinal()
    first = position(start.toordinal())

    def calendar(a: int, b: int) -> list[tuple[int, int]]:
        return censor.calendar(a, b) if censor else [(a, b)]

    by_ingredient: dict[str, list[tuple[date, date, str]]] = {}
    for interval in intervals:
        if interval.end < first or interval.start > last:
            continue
        for a, b in calendar(max(interval.start, first), min(interval.end, last)):
            for name in interval.ingredients:
                by_ingredient.setdefault(name, []).append(
                    (date.fromordinal(a), date.fromordinal(b), interval.ref)
                )
    runs = [r for r in merged(intervals) if r[1] >= first and r[0] <= last]
    clipped = [(max(a, first), min(b, last)) for a, b in runs]
    holes = gaps(clipped, max(first, clipped[0][0]), last) if clipped else []
    return GroupTrack(
        group=group,
        basis=basis,
        covered=tuple(_dates(c) for a, b in clipped for c in calendar(a, b)),
        gaps=tuple(_dates(c) for a, b in holes for c in calendar(a, b)),
        by_ingredient={k: tuple(v) for k, v in by_ingredient.items()},
    )


def _dates(span: tuple[int, int]) -> Span:
    return date.fromordinal(span[0]), date.fromordinal(span[1])


def _signals(
    records: PatientRecords, as_of: date, start: date, sleep: SleepParams
) -> tuple[Signal, ...]:
    codes = load_observation_codes()
    found: list[Signal] = []
    for obs in records.observations:
        if obs.status not in RESULT_STATUSES or not start <= obs.effective <= as_of:
            continue
        analyte = codes.analyte_of(obs)
        if analyte is not None:
            result = codes.read_result(obs, analyte[1])
            value = result.value if result is not None else "unreadable"
            found.append(
                Signal(
                    ref=obs.ref,
                    day=obs.effective,
                    kind="uds",
                    label=analyte[0],
                    value=value,
                    warning=value == "positive",
                )
            )
            continue
        score = score_of(obs, codes)
        if score is None:
            continue
        if codes.phq9_total in obs.codes:
            kind, warning = "phq9-total", score >= 20
        elif codes.phq9_item9 in obs.codes:
            kind, warning = "phq9-item9", score > 0
        elif codes.sleep_duration in obs.codes:
            kind, warning = (
                "sleep-duration",
                _hours(obs.value_unit, score) < sleep.short_sleep_hours,
            )
        elif codes.promis_sleep_disturbance in obs.codes:
            kind, warning = "sleep-disturbance", score >= sleep.promis_t_score
        else:
            continue
        found.append(
            Signal(
                ref=obs.ref,
                day=obs.effective,
                kind=kind,
                label=kind,
                value=f"{score:g}",
                warning=warning,
            )
        )
    return tuple(sorted(found, key=lambda s: (s.day, s.ref)))


def _hours(unit: str | None, value: float) -> float:
    """Sleep duration in hours from UCUM h or min (the PHR IG sends either)."""
    return value / 60 if (unit or "h").lower() in ("min", "minutes") else value
