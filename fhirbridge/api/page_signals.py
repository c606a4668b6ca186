"""Entrypoint: the patient page's warning signs under the medications: urine drug screens (one
row per analyte) and the PHQ-9 trend with item 9, drawn on the same day grid (page_marks.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from fhirbridge.adherence.timeline import Signal
from fhirbridge.api.page_data import PageModel, window_days
from fhirbridge.api.page_marks import (
    DAY_W,
    HEADER_H,
    LABEL_W,
    PHQ9_BANDS,
    PHQ_H,
    POSITIVE,
    UDS_ROW_H,
    element,
    short,
    x_of,
)


def uds_marks(model: PageModel, y: int, front: list[str], findings_of: dict[str, set[str]]) -> int:
    screens = [s for s in model.signals if s.kind == "uds"]
    front.append(element("text", text="Urine drug screens", cls="group-title", x=6, y=y + 15))
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
            element("text", text=short(analyte), cls="drug-label", x=14, y=y + UDS_ROW_H // 2 + 4)
        )
        for same_day in by_analyte[analyte].values():
            s = next((x for x in same_day if x.value == "positive"), same_day[0])
            refs = sorted(x.ref for x in same_day)
            positive = s.value == "positive"
            reading = {"positive": "detected", "negative": "not detected"}.get(s.value, s.value)
            front.append(
                element(
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


def phq9_marks(model: PageModel, y: int, front: list[str], findings_of: dict[str, set[str]]) -> int:
    totals = [s for s in model.signals if s.kind == "phq9-total"]
    item9 = [s for s in model.signals if s.kind == "phq9-item9" and s.warning]
    front.append(element("text", text="PHQ-9 (depression, 0–27)", cls="group-title", x=6, y=y + 15))
    y += HEADER_H
    if not totals and not item9:
        front.append(_none(y))
        return y + UDS_ROW_H
    bottom = y + PHQ_H - 8

    def y_of(score: float) -> float:
        return round(bottom - score * (PHQ_H - 24) / 27, 1)

    right = LABEL_W + DAY_W * window_days(model)
    front.append(
        element(
            "line", cls="phq9-axis", x1=LABEL_W, x2=right, y1=bottom, y2=bottom, stroke="#999999"
        )
    )
    for score, name in PHQ9_BANDS:
        at = y_of(score)
        front.append(
            element(
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
            element(
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
            element(
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
            element(
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
            element("text", text=s.value, cls="phq9-value", x=x, y=at - 9, text_anchor="middle")
        )
    for s in item9:
        x = x_of(model, s.day) + DAY_W // 2
        front.append(
            element(
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
            element(
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
    return element(
        "text", text="None in the last 12 months", cls="none-note", x=LABEL_W + 4, y=y + 12
    )
