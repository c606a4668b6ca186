"""Entrypoint: the patient page as server-rendered HTML: banner, legend, the SVG timeline
(api/page_svg.py) and the findings beside it; and the demo mode's patient picker.

Everything from data is escaped. The page loads only its own stylesheet and script (the CSP
in api/patient_page.py allows nothing else), and its <title> names no patient, because titles
land in browser history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from html import escape

from fhirbridge.api.page_data import ROLES, Overlap, PageModel
from fhirbridge.api.page_marks import GAP_FILL, POSITIVE, ROLE_COLOURS, STAY_FILL
from fhirbridge.api.page_sources import ExamplePatient
from fhirbridge.api.page_svg import timeline_svg
from fhirbridge.findings import Finding

STATIC = "/patient-page/static"
ROLE_NAMES = {
    "psychiatric": "Psychiatric prescriber",
    "addiction": "Addiction medicine prescriber",
    "primary-care": "Primary care prescriber",
    "other": "Other or unknown prescriber",
}
_SEVERITY_ORDER = {"high": 0, "moderate": 1, "low": 2}
_BOLD = re.compile(r"\*\*(.+?)\*\*")
# A FHIR id may hold dots but a sentence's full stop after it is not part of it.
_PRACTITIONER = re.compile(r"Practitioner/[A-Za-z0-9\-.]{0,63}[A-Za-z0-9\-]")


def render_page(model: PageModel, *, demo: bool, show_banner: bool = True) -> str:
    """The whole page for one patient."""
    ribbon = (
        '<p class="demo-ribbon">Demo: constructed example data, not a real patient. '
        '<a href="/patient-page/demo">Choose another example patient</a></p>'
        if demo
        else ""
    )
    banner = _banner(model) if show_banner else ""
    window = f"{_day(model.start)} – {_day(model.as_of)}"
    body = f"""{ribbon}{banner}
<main class="layout">
<section class="timeline-panel" aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Medications, last 12 months <span class="window">{window}</span></h2>
{_legend()}
<div class="timeline-scroll">{timeline_svg(model)}</div>
</section>
<aside class="findings-panel" aria-labelledby="findings-heading">
<h2 id="findings-heading">Findings ({len(model.findings)})</h2>
{_findings(model)}
</aside>
</main>"""
    return _document(body)


def render_demo_index(patients: Iterable[ExamplePatient]) -> str:
    """The demo's patient picker: a POST form, so no patient id ever goes into a URL."""
    options = "\n".join(
        f'<li><label><input type="radio" name="patient" value="{escape(p.id, quote=True)}"'
        f'{" checked" if i == 0 else ""}> <span class="pid">{escape(p.id)}</span> '
        f'{escape(p.name)}<span class="scenario">{escape(p.scenario)}</span></label></li>'
        for i, p in enumerate(patients)
    )
    body = f"""<p class="demo-ribbon">Demo: constructed example data, not real patients.</p>
<main class="demo">
<h1>fhirbridge patient page: example patients</h1>
<p>Each patient below was written by hand to show one of fhirbridge's rules. In an EHR, the page
opens by SMART launch for the patient in context instead.</p>
<form method="post" action="/patient-page/demo">
<button type="submit">Show the medication timeline</button>
<ul class="patients">{options}</ul>
<button type="submit">Show the medication timeline</button>
</form>
</main>"""
    return _document(body)


def _document(body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Medication timeline · fhirbridge</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC}/patient_page.css">
<script src="{STATIC}/patient_page.js" defer></script>
</head>
<body>
{body}
</body>
</html>
"""


def _banner(model: PageModel) -> str:
    b = model.banner
    facts = [
        f"<span>{escape(label)} {escape(b[key])}</span>"
        for key, label in (("sex", "Sex:"), ("birth_date", "Born:"))
        if b.get(key)
    ]
    name = escape(b.get("name", "")) or "Patient"
    return (
        f'<header class="banner"><h1 class="patient-name">{name}</h1>'
        f"{''.join(facts)}<span>As of: {_day(model.as_of)}</span></header>"
    )


def _legend() -> str:
    roles = "".join(
        f'<li class="legend-role" data-role="{role}">{_swatch(ROLE_COLOURS[role])}'
        f"{escape(ROLE_NAMES[role])}</li>"
        for role in ROLES
    )
    marks = (
        f"<li>{_swatch(GAP_FILL, 'gap')}Gap in coverage (days without supply)</li>"
        '<li><svg class="swatch" width="18" height="12" aria-hidden="true">'
        '<line x1="9" x2="9" y1="0" y2="12" stroke="#1A1A1A" stroke-width="2"></line></svg>'
        "Fill (dispense; an order when none)</li>"
        '<li><svg class="swatch" width="18" height="12" aria-hidden="true"><rect x="1" y="1" '
        'width="16" height="10" rx="2" fill="none" stroke="#111111" stroke-width="2" '
        'stroke-dasharray="4 2"></rect></svg>Overlap named by a finding</li>'
        f"<li>{_swatch(STAY_FILL)}Inpatient stay</li>"
        '<li><svg class="swatch" width="18" height="12" aria-hidden="true"><circle cx="9" cy="6" '
        f'r="5" fill="{POSITIVE}"></circle></svg>Screen detected</li>'
        '<li><svg class="swatch" width="18" height="12" aria-hidden="true"><circle cx="9" cy="6" '
        'r="5" fill="#FFFFFF" stroke="#444444" stroke-width="2"></circle></svg>Not detected</li>'
    )
    return (
        '<div class="legend" aria-label="Legend"><ul class="legend-roles">'
        f'{roles}</ul><ul class="legend-marks">{marks}</ul></div>'
    )


def _swatch(colour: str, kind: str = "role") -> str:
    return (
        f'<svg class="swatch swatch-{kind}" width="18" height="12" aria-hidden="true">'
        f'<rect width="18" height="12" rx="2" fill="{colour}"></rect></svg>'
    )


def _findings(model: PageModel) -> str:
    if not model.findings:
        return '<p class="no-findings">No findings for this patient as of this date.</p>'
    overlaps = {o.finding: o for o in model.overlaps}
    items = [
        _finding(f, overlaps.get(f.key), model)
        for f in sorted(model.findings, key=lambda f: _SEVERITY_ORDER.get(f.severity.value, 9))
    ]
    return f'<ol class="findings">{"".join(items)}</ol>'


def _finding(finding: Finding, overlap: Overlap | None, model: PageModel) -> str:
    severity = finding.severity.value
    lines = [
        f'<span class="severity severity-{severity}">{escape(severity)}</span>',
        f'<p class="summary">{escape(finding.summary)}</p>',
        f'<p class="rule">{escape(finding.rule)} · {escape(finding.category.value)}</p>',
    ]
    if overlap is not None:
        spans = "; ".join(
            f"{_day(a)} – {_day(b)} ({(b - a).days + 1} days)" for a, b in overlap.spans
        )
        drugs = escape(" and ".join(overlap.drugs))
        lines.append(f'<p class="overlap-dates">Overlap of {drugs}: {spans}</p>')
    if finding.prescribers:
        who = "; ".join(escape(model.prescribers.get(p, p)) for p in finding.prescribers)
        lines.append(f'<p class="prescribers">Prescribers: {who}</p>')
    lines.append(
        f'<details><summary>Why and what to do</summary><div class="detail">'
        f"{_markdown(finding.detail, model.prescribers)}</div>"
        f'<p class="authority">Source: {escape(finding.authority)}</p></details>'
    )
    return (
        f'<li class="finding" tabindex="0" data-key="{escape(finding.key, quote=True)}" '
        f'data-rule="{escape(finding.rule, quote=True)}" data-severity="{severity}">'
        f"{''.join(lines)}</li>"
    )


def _markdown(text: str, prescribers: Mapping[str, str]) -> str:
    """The findings' detail markdown as it is written (paragraphs, **bold**), escaped first;
    prescriber references become their names."""
    html = escape(text)
    html = _PRACTITIONER.sub(lambda m: escape(_name_of(prescribers, m.group(0))), html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return "".join(f"<p>{para}</p>" for para in html.split("\n\n") if para.strip())


def _name_of(prescribers: Mapping[str, str], ref: str) -> str:
    label = prescribers.get(ref)
    return label.rsplit(" (", 1)[0] if label else ref


def _day(day: date) -> str:
    return day.strftime("%d %b %Y").lstrip("0")
