"""Entrypoint: the patient page's timeline as inline SVG, drawn on a fixed day grid.

One day is DAY_W pixels from x = LABEL_W (the window's first day), so a span of days [a, b]
is the rectangle x = LABEL_W + DAY_W * (a - start), width = DAY_W * (b - a + 1). Every mark
carries data attributes (drug, start, end, role, fill, finding keys) that tests and the page's
script read; colours are presentation attributes (no inline style: the page's CSP forbids it).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from html import escape

from fhirbridge.adherence.timeline import Signal
from fhirbridge.api.page_data import OTHER, Block, DrugRow, PageModel, clip, window_days

LABEL_W = 210  # the drug names' column
DAY_W = 2  # pixels per day: 365 days → 730 px
RIGHT = 24
TOP = 40  # the month axis (and the as-of label above it)
HEADER_H = 22  # a group's title line
ROW_H = 28
BAR_H = 14
SECTION_GAP = 12
UDS_ROW_H = 20
PHQ_H = 110
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
ROLE_COLOURS = {
    "psychiatric": "#D55E00",
    "addiction": "#0072B2",
    "primary-care": "#009E73",
    "other": "#767676",
}
GAP_FILL = "#F6D3D0"
GAP_TEXT = "#8A1C1C"
STAY_FILL = "#DCE3EC"
POSITIVE = "#B00020"
GROUP_TITLES = {  # short: the title shares its line with the group's PDC
    "moud": "MOUD",
    "antidepressant": "Antidepressants",
    "antipsychotic": "Antipsychotics",
    "mood-stabilizer": "Mood stabilizers",
    OTHER: "Other medications",
}
GROUP_TIPS = {
    "moud": "Medications for opioid use disorder (buprenorphine, naltrexone)",
    OTHER: "Drugs in no adherence group: coverage shown, gaps not measured",
}
PHQ9_BANDS = ((5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe"))


def x_of(model: PageModel, day: date) -> int:
    return LABEL_W + DAY_W * (day - model.start).days


def width_of(a: date, b: date) -> int:
    return DAY_W * ((b - a).days + 1)


def _el(tag: str, *, title: str | None = None, text: str | None = None, **attrs: object) -> str:
    """One SVG element, escaped. `data_x` → `data-x`, `cls` → `class`, `viewBox` kept; None
    values are left out. `title` becomes a <title> child (the tooltip and the accessible name).
    """
    out = []
    for name, value in attrs.items():
        if value is not None:
            key = (
                "class" if name == "cls" else name if name == "viewBox" else name.replace("_", "-")
            )
            out.append(f'{key}="{escape(str(value), quote=True)}"')
    inner = (f"<title>{escape(title)}</title>" if title else "") + escape(text or "")
    return f"<{tag} {' '.join(out)}>{inner}</{tag}>"


def timeline_svg(model: PageModel) -> str:
    """The whole timeline: medication blocks, then urine drug screens, then PHQ-9."""
    findings_of = _findings_by_ref(model)
    back: list[str] = []  # stays, gaps, row backgrounds: under the bars
    front: list[str] = []  # bars, ticks, labels
    top: list[str] = []  # overlap outlines, over everything
    row_y: dict[str, int] = {}
    y = TOP + 6
    for block in model.blocks:
        y = _block(model, block, y, (back, front), row_y, findings_of)
    for start, end, ref in model.stays:
        span = clip((start, end), model)
        if span is not None:
            back.insert(0, _stay(model, span, ref, y))
    for overlap in model.overlaps:
        for drug in overlap.drugs:
            for a, b in overlap.spans:
                days = (b - a).days + 1
                top.append(
                    _el(
                        "rect",
                        title=f"{overlap.rule}: {' and '.join(overlap.drugs)} overlap "
                        f"{a} – {b} ({days} days)",
                        cls="overlap",
                        x=x_of(model, a),
                        y=row_y[drug] + 3,
                        width=width_of(a, b),
                        height=ROW_H - 6,
                        fill="none",
                        stroke="#111111",
                        stroke_width=2,
                        stroke_dasharray="5 3",
                        rx=3,
                        data_finding=overlap.finding,
                        data_rule=overlap.rule,
                        data_drug=drug,
                        data_start=a,
                        data_end=b,
                    )
                )
    y = _uds(model, y + 4, front, findings_of)
    y = _phq9(model, y + SECTION_GAP, front, findings_of)
    height = y + 8
    width = LABEL_W + DAY_W * window_days(model) + RIGHT
    svg = _el(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        id="timeline",
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_label="Medication timeline, last 12 months",
        data_start=model.start,
        data_as_of=model.as_of,
        data_day_width=DAY_W,
        data_label_width=LABEL_W,
    )
    return svg.replace(
        "></svg>", ">" + "".join([*back, *_axis(model, height), *front, *top]) + "</svg>"
    )


def _block(
    model: PageModel,
    block: Block,
    y: int,
    layers: tuple[list[str], list[str]],
    row_y: dict[str, int],
    findings_of: dict[str, set[str]],
) -> int:
    back, front = layers
    title = GROUP_TITLES.get(block.group, block.group)
    front.append(
        _el(
            "text",
            title=GROUP_TIPS.get(block.group),
            text=title,
            cls="group-title",
            x=6,
            y=y + 15,
            data_group=block.group,
        )
    )
    if block.pdc is not None:
        p = block.pdc
        front.append(
            _el(
                "text",
                text=f"PDC {p.value:.0%} ({p.days_covered} of {p.days_in_period} days)",
                cls="pdc" if p.adherent else "pdc pdc-low",
                x=LABEL_W + 4,
                y=y + 15,
                data_group=block.group,
            )
        )
    y += HEADER_H
    rows_top = y
    for row in block.rows:
        row_y[row.key] = y
        _row(model, row, y, layers, findings_of)
        y += ROW_H
    for a, b in block.gaps:
        days = (b - a).days + 1
        x, w = x_of(model, a), width_of(a, b)
        back.append(
            _el(
                "rect",
                title=f"No {title} supply {a} – {b} ({days} days)",
                cls="gap",
                x=x,
                y=rows_top,
                width=w,
                height=y - rows_top,
                fill=GAP_FILL,
                data_group=block.group,
                data_start=a,
                data_end=b,
                data_days=days,
            )
        )
        if w >= 24:  # room for the label
            front.append(
                _el(
                    "text",
                    text=f"{days}d",
                    cls="gap-label",
                    x=x + w / 2,
                    y=rows_top + ROW_H / 2 + 4,
                    fill=GAP_TEXT,
                    text_anchor="middle",
                )
            )
    return y + SECTION_GAP


def _row(
    model: PageModel,
    row: DrugRow,
    y: int,
    layers: tuple[list[str], list[str]],
    findings_of: dict[str, set[str]],
) -> None:
    back, front = layers
    keys = " ".join(sorted({k for ref in row.refs for k in findings_of.get(ref, ())}))
    back.append(
        _el(
            "rect",
            cls="row-bg",
            x=0,
            y=y,
            width=LABEL_W + DAY_W * window_days(model),
            height=ROW_H,
            data_drug=row.key,
            data_findings=keys or None,
        )
    )
    front.append(
        _el(
            "text",
            title=row.display,
            text=_short(row.key + (" (rescue)" if row.rescue else "")),
            cls="drug-label",
            x=14,
            y=y + ROW_H // 2 + 4,
            data_drug=row.key,
        )
    )
    for s in row.segments:
        who = model.prescribers.get(s.prescriber or "", "prescriber unknown")
        front.append(
            _el(
                "rect",
                title=f"{row.key}: {s.start} – {s.end} ({(s.end - s.start).days + 1} days) · {who}",
                cls="bar",
                x=x_of(model, s.start),
                y=y + (ROW_H - BAR_H) // 2,
                width=width_of(s.start, s.end),
                height=BAR_H,
                fill=ROLE_COLOURS.get(s.role, ROLE_COLOURS["other"]),
                data_drug=row.key,
                data_start=s.start,
                data_end=s.end,
                data_role=s.role,
                data_fill=s.ref,
            )
        )
    for t in row.ticks:
        supply = f"{t.days_supply} days" if t.days_supply else "days supply unknown"
        x = x_of(model, t.day)
        front.append(
            _el(
                "line",
                title=f"{t.kind} {t.day}: {supply}{' (estimated)' if t.imputed else ''}",
                cls="fill-tick",
                x1=x,
                x2=x,
                y1=y + 3,
                y2=y + ROW_H - 3,
                stroke="#1A1A1A",
                stroke_width=2,
                stroke_dasharray="3 2" if t.imputed else None,
                data_drug=row.key,
                data_day=t.day,
                data_ref=t.ref,
                data_kind=t.kind,
                data_days_supply=t.days_supply,
            )
        )


def _stay(model: PageModel, span: tuple[date, date], ref: str, bottom: int) -> str:
    a, b = span
    return _el(
        "rect",
        title=f"Inpatient {a} – {b}: days not counted in adherence",
        cls="stay",
        x=x_of(model, a),
        y=TOP,
        width=width_of(a, b),
        height=bottom - TOP,
        fill=STAY_FILL,
        data_start=a,
        data_end=b,
        data_ref=ref,
    )


def _uds(model: PageModel, y: int, front: list[str], findings_of: dict[str, set[str]]) -> int:
    screens = [s for s in model.signals if s.kind == "uds"]
    front.append(_el("text", text="Urine drug screens", cls="group-title", x=6, y=y + 15))
    y += HEADER_H
    if not screens:
        front.append(_none(y))
        return y + UDS_ROW_H
    # One mark per analyte and day: a panel may report one analyte under two codes (e.g. two
    # buprenorphine LOINCs); detected wins, since that is the reading a clinician must see.
    by_analyte: dict[str, dict[date, list[Signal]]] = defaultdict(lambda: defaultdict(list))
    for s in screens:
        by_analyte[s.label][s.day].append(s)
    for analyte in sorted(by_analyte):
        front.append(
            _el("text", text=_short(analyte), cls="drug-label", x=14, y=y + UDS_ROW_H // 2 + 4)
        )
        for same_day in by_analyte[analyte].values():
            s = next((x for x in same_day if x.value == "positive"), same_day[0])
            refs = sorted(x.ref for x in same_day)
            positive = s.value == "positive"
            reading = {"positive": "detected", "negative": "not detected"}.get(s.value, s.value)
            front.append(
                _el(
                    "circle",
                    title=f"{analyte} {s.day}: {reading}",
                    cls="uds uds-positive" if positive else "uds uds-negative",
                    cx=x_of(model, s.day) + DAY_W // 2,
                    cy=y + UDS_ROW_H // 2,
                    r=6,
                    fill=POSITIVE if positive else "#FFFFFF",
                    stroke=POSITIVE if positive else "#444444",
                    stroke_width=2,
                    data_analyte=analyte,
                    data_day=s.day,
                    data_value=s.value,
                    data_ref=" ".join(refs),
                    data_findings=" ".join(sorted({k for r in refs for k in findings_of[r]}))
                    or None,
                )
            )
        y += UDS_ROW_H
    return y


def _phq9(model: PageModel, y: int, front: list[str], findings_of: dict[str, set[str]]) -> int:
    totals = [s for s in model.signals if s.kind == "phq9-total"]
    item9 = [s for s in model.signals if s.kind == "phq9-item9" and s.warning]
    front.append(_el("text", text="PHQ-9 (depression, 0–27)", cls="group-title", x=6, y=y + 15))
    y += HEADER_H
    if not totals and not item9:
        front.append(_none(y))
        return y + UDS_ROW_H
    bottom = y + PHQ_H - 8

    def y_of(score: float) -> float:
        return round(bottom - score * (PHQ_H - 24) / 27, 1)

    right = LABEL_W + DAY_W * window_days(model)
    front.append(
        _el("line", cls="phq9-axis", x1=LABEL_W, x2=right, y1=bottom, y2=bottom, stroke="#999999")
    )
    for score, name in PHQ9_BANDS:
        at = y_of(score)
        front.append(
            _el(
                "line",
                cls="phq9-band",
                x1=LABEL_W,
                x2=right,
                y1=at,
                y2=at,
                stroke="#D0D0D0",
                stroke_dasharray="2 3",
            )
        )
        front.append(
            _el(
                "text",
                text=f"{score} {name}",
                cls="band-label",
                x=LABEL_W - 6,
                y=at + 4,
                text_anchor="end",
            )
        )
    points = [(x_of(model, s.day) + DAY_W // 2, y_of(float(s.value)), s) for s in totals]
    if len(points) > 1:
        line = " ".join(f"{x},{at}" for x, at, _ in points)
        front.append(
            _el(
                "polyline",
                cls="phq9-line",
                points=line,
                fill="none",
                stroke="#333333",
                stroke_width=2,
            )
        )
    for x, at, s in points:
        front.append(
            _el(
                "circle",
                title=f"PHQ-9 {s.day}: {s.value}",
                cls="phq9",
                cx=x,
                cy=at,
                r=5,
                fill=POSITIVE if s.warning else "#333333",
                data_day=s.day,
                data_score=s.value,
                data_ref=s.ref,
                data_findings=" ".join(sorted(findings_of.get(s.ref, ()))) or None,
            )
        )
        front.append(
            _el("text", text=s.value, cls="phq9-value", x=x, y=at - 9, text_anchor="middle")
        )
    for s in item9:
        x = x_of(model, s.day) + DAY_W // 2
        front.append(
            _el(
                "path",
                title=f"PHQ-9 item 9 (thoughts of self-harm) {s.day}: {s.value}",
                cls="phq9-item9",
                d=f"M{x - 7},{y + 14} L{x + 7},{y + 14} L{x},{y + 2} Z",
                fill=POSITIVE,
                data_day=s.day,
                data_score=s.value,
                data_ref=s.ref,
                data_findings=" ".join(sorted(findings_of.get(s.ref, ()))) or None,
            )
        )
        near_end = x > right - 80  # the label goes left of a mark near the as-of line
        front.append(
            _el(
                "text",
                text=f"item 9: {s.value}",
                cls="item9-label",
                x=x - 10 if near_end else x + 10,
                y=y + 13,
                text_anchor="end" if near_end else None,
            )
        )
    return y + PHQ_H


def _none(y: int) -> str:
    return _el("text", text="None in the last 12 months", cls="none-note", x=LABEL_W + 4, y=y + 12)


def _axis(model: PageModel, height: int) -> list[str]:
    parts = []
    day = date(model.start.year, model.start.month, 1)
    while day <= model.as_of:
        if day >= model.start:
            x = x_of(model, day)
            first = day.month == 1 or day == model.start
            parts.append(
                _el("line", cls="grid", x1=x, x2=x, y1=TOP - 6, y2=height - 8, stroke="#E4E4E4")
            )
            parts.append(
                _el(
                    "text",
                    text=day.strftime("%b %Y" if first else "%b"),
                    cls="month",
                    x=x + 3,
                    y=TOP - 10,
                    data_month=day.isoformat()[:7],
                )
            )
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    end = x_of(model, model.as_of) + DAY_W
    parts.append(
        _el(
            "line",
            cls="as-of",
            x1=end,
            x2=end,
            y1=TOP - 28,
            y2=height - 8,
            stroke="#555555",
            stroke_dasharray="4 3",
        )
    )
    parts.append(
        _el(
            "text",
            text=f"as of {model.as_of}",
            cls="as-of-label",
            x=end - 4,
            y=TOP - 26,
            text_anchor="end",
        )
    )
    return parts


def _findings_by_ref(model: PageModel) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for f in model.findings:
        for ref in (*f.implicated, *f.evidence):
            found[ref].add(f.key)
    return found


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
