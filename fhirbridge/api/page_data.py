"""Entrypoint: what the patient page shows, computed from one patient's FHIR resources.

The same mappers, timeline and rules as a run (adherence/timeline.py, analysis.py), so the page
and the findings agree. The adherence timeline draws only drugs in adherence groups; the page
also needs the others (a benzodiazepine beside buprenorphine), so each drug product is given its
own pseudo-group and timed by the same engine: carry-over, inpatient censoring, window clipping.
Pure: no Flask, no store, no clock; the views hand in the resources and `as_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from fhirbridge.adherence import PdcResult, Timeline, build_timeline, resolve_supply
from fhirbridge.adherence.timeline import Signal, Span
from fhirbridge.analysis import AnalysisParams, analyze_patient
from fhirbridge.findings import Finding
from fhirbridge.mappers import MappingContext
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.records import Drug, EventKind, MedicationEvent, PatientRecords, Prescriber

# Adherence groups top to bottom: MOUD first (the page is for addiction and mental-health care).
GROUP_ORDER = ("moud", "antidepressant", "antipsychotic", "mood-stabilizer")
OTHER = "other"  # the block of drugs in no adherence group
ROLES = ("psychiatric", "addiction", "primary-care", "other")  # PrescriberRole values


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """Days one fill covers on the calendar (after carry-over), drawn in its prescriber's colour."""

    start: date
    end: date  # included
    ref: str | None  # the fill; None for a drug the terminology does not know (merged spans)
    role: str  # PrescriberRole value; "other" when the prescriber is unknown
    prescriber: str | None  # "Practitioner/…"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """A fill: the day it was dispensed (or ordered, for drugs known only from orders)."""

    day: date
    ref: str
    kind: str  # dispense | order
    days_supply: int | None
    imputed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DrugRow:
    key: str  # ingredients joined by " / ", e.g. "buprenorphine / naloxone"
    display: str  # the product text of the latest fill, as the source wrote it
    refs: frozenset[str]  # every order and dispense of this drug (findings point at these)
    segments: tuple[Segment, ...]
    ticks: tuple[Tick, ...]
    rescue: bool = False  # rescue naloxone (nasal spray, injection): not a daily medication


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    group: str  # adherence group, or OTHER
    rows: tuple[DrugRow, ...]
    gaps: tuple[Span, ...]  # the group's uncovered runs (none for OTHER: no continuity expected)
    pdc: PdcResult | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Overlap:
    """Days on which two or more of a finding's drugs were covered at once."""

    finding: str  # finding key
    rule: str
    drugs: tuple[str, ...]  # row keys
    spans: tuple[Span, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PageModel:
    patient: str
    as_of: date
    start: date  # the window's first day
    banner: Mapping[str, str]  # name, birth date, sex: for the banner only, never logged
    blocks: tuple[Block, ...]
    stays: tuple[tuple[date, date, str], ...]
    signals: tuple[Signal, ...]
    findings: tuple[Finding, ...]
    overlaps: tuple[Overlap, ...]
    prescribers: Mapping[str, str]  # ref → "Name (role)" for tooltips and the findings list


def build_page(
    patient: str,
    resources: Iterable[Mapping[str, Any]],
    *,
    ctx: MappingContext,
    prescribers: Mapping[str, Prescriber],
    params: AnalysisParams,
    as_of: date,
) -> PageModel:
    """The page for `patient` from its resources (and Practitioners, for names)."""
    resources = list(resources)
    records, _skips = to_patient_records(patient, resources, ctx, prescribers)
    records = resolve_supply(records)
    window = params.adherence.window_days
    timeline = build_timeline(records, as_of=as_of, window_days=window)
    analysis = analyze_patient(records, as_of=as_of, params=params)
    rows = _rows(records, as_of, window)
    blocks = _blocks(timeline, rows, records, analysis.adherence)
    shown = tuple(r for b in blocks for r in b.rows)
    return PageModel(
        patient=patient,
        as_of=as_of,
        start=timeline.start,
        banner=_banner(patient, resources),
        blocks=blocks,
        stays=timeline.stays,
        signals=timeline.signals,
        findings=analysis.findings,
        overlaps=tuple(o for f in analysis.findings if (o := _overlap(f, shown)) is not None),
        prescribers=_prescriber_labels(resources, records.prescribers),
    )


def product_key(drug: Drug) -> str:
    """One row per product: its ingredients, else its text (an unrecognised drug)."""
    return " / ".join(drug.ingredients) or drug.display or drug.code or "unrecognised medication"


def _rows(records: PatientRecords, as_of: date, window: int) -> dict[str, DrugRow]:
    events = [e for e in records.events if e.kind is not EventKind.STATEMENT]
    by_key: dict[str, list[MedicationEvent]] = {}
    for event in events:
        by_key.setdefault(product_key(event.drug), []).append(event)
    # Each product as its own group: the timeline engine then times it alone.
    alone = replace(
        records,
        events=tuple(
            replace(e, drug=replace(e.drug, groups=frozenset({product_key(e.drug)})))
            for e in events
        ),
    )
    per_product = build_timeline(alone, as_of=as_of, window_days=window)
    by_ref = {e.ref: e for e in events}
    rows: dict[str, DrugRow] = {}
    for track in per_product.groups:
        own = by_key[track.group]
        runs = next(iter(track.by_ingredient.values()), None)
        if runs is not None:
            spans = [(a, b, by_ref.get(ref)) for a, b, ref in runs]
        else:
            spans = [(a, b, max(own, key=lambda e: e.start)) for a, b in track.covered]
        ticks = tuple(
            Tick(
                day=f.day,
                ref=f.ref,
                kind=f.kind,
                days_supply=f.days_supply,
                imputed=f.imputed,
            )
            for f in per_product.fills
            if f.kind == track.basis and f.ref in {e.ref for e in own}
        )
        segments = tuple(
            Segment(
                start=a,
                end=b,
                ref=e.ref if runs is not None and e is not None else None,
                role=_role(who, records.prescribers),
                prescriber=who,
            )
            for a, b, e in spans
            for who in [_prescriber_of(e, by_ref)]
        )
        if segments or ticks:
            latest = max(own, key=lambda e: (e.start, e.ref))
            rows[track.group] = DrugRow(
                key=track.group,
                display=latest.drug.display,
                refs=frozenset(e.ref for e in own),
                segments=segments,
                ticks=ticks,
                rescue=any("naloxone-rescue" in e.drug.classes for e in own),
            )
    return rows


def _prescriber_of(
    event: MedicationEvent | None, by_ref: Mapping[str, MedicationEvent]
) -> str | None:
    """The order's requester; a dispense names its prescriber through authorizingPrescription."""
    if event is None:
        return None
    if event.prescriber is None and event.order_ref is not None and event.order_ref in by_ref:
        return by_ref[event.order_ref].prescriber
    return event.prescriber


def _role(prescriber: str | None, prescribers: Mapping[str, Prescriber]) -> str:
    found = prescribers.get(prescriber) if prescriber else None
    return found.role.value if found is not None else "other"


def _blocks(
    timeline: Timeline,
    rows: dict[str, DrugRow],
    records: PatientRecords,
    adherence: Iterable[Any],
) -> tuple[Block, ...]:
    group_of: dict[str, str] = {}
    for event in records.events:
        key = product_key(event.drug)
        groups = sorted(event.drug.groups, key=_group_rank)
        if groups and key not in group_of:
            group_of[key] = groups[0]
    pdc = {m.group: m for m in adherence if isinstance(m, PdcResult)}
    blocks = []
    for track in sorted(timeline.groups, key=lambda t: _group_rank(t.group)):
        members = [r for k, r in rows.items() if group_of.get(k) == track.group]
        if members:
            blocks.append(
                Block(
                    group=track.group,
                    rows=tuple(sorted(members, key=_first_day)),
                    gaps=track.gaps,
                    pdc=pdc.get(track.group),
                )
            )
    others = [r for k, r in rows.items() if k not in group_of]
    if others:
        blocks.append(
            Block(group=OTHER, rows=tuple(sorted(others, key=_first_day)), gaps=(), pdc=None)
        )
    return tuple(blocks)


def _group_rank(group: str) -> tuple[int, str]:
    return (GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER), group)


def _first_day(row: DrugRow) -> tuple[date, str]:
    days = [s.start for s in row.segments] + [t.day for t in row.ticks]
    return (min(days) if days else date.max, row.key)


def _overlap(finding: Finding, rows: tuple[DrugRow, ...]) -> Overlap | None:
    """The days two or more of the finding's drugs overlap (interaction, duplicate therapy)."""
    named = [r for r in rows if r.refs & set(finding.implicated)]
    if len(named) < 2:
        return None
    count: dict[int, int] = {}
    for row in named:
        days = {d for s in row.segments for d in range(s.start.toordinal(), s.end.toordinal() + 1)}
        for day in days:
            count[day] = count.get(day, 0) + 1
    both = sorted(d for d, n in count.items() if n >= 2)
    spans: list[Span] = []
    for day in both:
        if spans and spans[-1][1].toordinal() == day - 1:
            spans[-1] = (spans[-1][0], date.fromordinal(day))
        else:
            spans.append((date.fromordinal(day), date.fromordinal(day)))
    if not spans:
        return None
    return Overlap(
        finding=finding.key,
        rule=finding.rule,
        drugs=tuple(r.key for r in named),
        spans=tuple(spans),
    )


def _banner(patient: str, resources: list[Mapping[str, Any]]) -> dict[str, str]:
    pid = patient.split("/", 1)[-1]
    found = next(
        (r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == pid), None
    )
    if found is None:
        return {}
    banner = {"name": _name(found.get("name"))}
    if isinstance(found.get("birthDate"), str):
        banner["birth_date"] = found["birthDate"]
    if isinstance(found.get("gender"), str):
        banner["sex"] = found["gender"]
    return {k: v for k, v in banner.items() if v}


def _name(names: Any) -> str:
    """HumanName: the official (else first) name's text, else given + family + suffix."""
    if not isinstance(names, list) or not names:
        return ""
    valid = [n for n in names if isinstance(n, Mapping)]
    name = next((n for n in valid if n.get("use") == "official"), valid[0] if valid else {})
    if isinstance(name.get("text"), str):
        return str(name["text"])
    parts = [*name.get("given", []), name.get("family", "")]
    text = " ".join(str(p) for p in parts if p)
    suffix = ", ".join(str(s) for s in name.get("suffix", []) if s)
    return f"{text}, {suffix}" if suffix else text


def _prescriber_labels(
    resources: list[Mapping[str, Any]], prescribers: Mapping[str, Prescriber]
) -> dict[str, str]:
    names = {
        f"Practitioner/{r.get('id')}": _name(r.get("name"))
        for r in resources
        if r.get("resourceType") == "Practitioner"
    }
    labels = {}
    for ref, prescriber in prescribers.items():
        if ref.startswith("Practitioner/"):
            name = names.get(ref) or ref
            labels[ref] = f"{name} ({prescriber.role.value})"
    for ref, name in names.items():
        labels.setdefault(ref, name or ref)
    return labels


def window_days(model: PageModel) -> int:
    """Days from the window's first day through as_of, both counted."""
    return (model.as_of - model.start).days + 1


def clip(span: Span, model: PageModel) -> Span | None:
    """A span cut to the window; None when it lies outside."""
    a, b = max(span[0], model.start), min(span[1], model.as_of)
    return (a, b) if a <= b else None
