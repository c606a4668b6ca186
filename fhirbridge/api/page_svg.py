"""Entrypoint: the patient page's timeline as inline SVG: the medications by adherence group
(bars per fill in the prescriber's colour, fill ticks, gaps, inpatient stays, overlaps named by
findings), the month axis, and the warning signs beneath (page_signals.py).

Every mark carries data attributes (drug, start, end, role, fill, finding keys) that tests and
the page's script read. The grid and the element writer are in page_marks.py.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from fhirbridge.api.page_data import Block, DrugRow, PageModel, clip, window_days
from fhirbridge.api.page_marks import (
    BAR_H,
    DAY_W,
    GAP_FILL,
    GAP_TEXT,
    GROUP_TIPS,
    GROUP_TITLES,
    HEADER_H,
    LABEL_W,
    RIGHT,
    ROLE_COLOURS,
    ROW_H,
    SECTION_GAP,
    STAY_FILL,
    TOP,
    element,
    short,
    width_of,
    x_of,
)
from fhirbridge.api.page_signals import phq9_marks, uds_marks


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
                    element(
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
    y = uds_marks(model, y + 4, front, findings_of)
    y = phq9_marks(model, y + SECTION_GAP, front, findings_of)
    height = y + 8
    width = LABEL_W + DAY_W * window_days(model) + RIGHT
    svg = element(
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
        element(
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
            element(
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
            element(
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
                element(
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
        element(
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
        element(
            "text",
            title=row.display,
            text=short(row.key + (" (rescue)" if row.rescue else "")),
            cls="drug-label",
            x=14,
            y=y + ROW_H // 2 + 4,
            data_drug=row.key,
        )
    )
    for s in row.segments:
        who = model.prescribers.get(s.prescriber or "", "prescriber unknown")
        front.append(
            element(
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
            element(
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
    return element(
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


def _axis(model: PageModel, height: int) -> list[str]:
    parts = []
    day = date(model.start.year, model.start.month, 1)
    while day <= model.as_of:
        if day >= model.start:
            x = x_of(model, day)
            first = day.month == 1 or day == model.start
            parts.append(
                element("line", cls="grid", x1=x, x2=x, y1=TOP - 6, y2=height - 8, stroke="#E4E4E4")
            )
            parts.append(
                element(
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
        element(
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
        element(
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
