"""Entrypoint: the patient page's drawing grid and its one SVG element writer.

One day is DAY_W pixels from x = LABEL_W (the window's first day), so a span of days [a, b]
is the rectangle x = LABEL_W + DAY_W * (a - start), width = DAY_W * (b - a + 1). Colours are
presentation attributes (no inline style: the page's CSP forbids it).
"""

from __future__ import annotations

from datetime import date
from html import escape

from fhirbridge.api.page_data import OTHER, PageModel

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


def element(tag: str, *, title: str | None = None, text: str | None = None, **attrs: object) -> str:
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


def short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
