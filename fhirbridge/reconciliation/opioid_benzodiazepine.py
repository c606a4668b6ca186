"""Pure: `opioid-benzodiazepine`, overlapping supply of an opioid and a benzodiazepine.

Authorities (clinical-anchors.md 3):
- FDA Drug Safety Communication, 31 Aug 2016: boxed warnings; avoid prescribing opioid
  analgesics with benzodiazepines whenever possible. CDC 2022 guideline, recommendation 11.
- FDA Drug Safety Communication, 20 Sep 2017: buprenorphine and methadone should not be
  withheld from patients taking benzodiazepines; manage the combination carefully. So with MOUD
  the finding is moderate and its advice is coordination, never "stop the MOUD".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhirbridge.adherence.coverage import Interval, coverage_by_ingredient, merged
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.records import EventKind, PatientRecords

RULE = "opioid-benzodiazepine"
OPIOID_CLASSES = frozenset({"opioid-analgesic", "buprenorphine", "methadone"})
MOUD_CLASSES = frozenset({"buprenorphine", "methadone"})
BENZO_CLASSES = frozenset({"benzodiazepine"})

AUTHORITY_HIGH = (
    "FDA Drug Safety Communication 2016-08-31 (boxed warning, opioids with benzodiazepines); "
    "CDC 2022 Clinical Practice Guideline, recommendation 11"
)
AUTHORITY_MOUD = (
    "FDA Drug Safety Communication 2017-09-20: buprenorphine and methadone should not be "
    "withheld from patients taking benzodiazepines"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpioidBenzoParams:
    lookback_days: int = 90  # an overlap on any day of the last 90 days is current enough to act on


def overlapping(
    left: list[Interval], right: list[Interval], first: int, last: int
) -> tuple[list[tuple[int, int]], set[str]]:
    """Overlap runs of two interval sets inside [first, last], and the refs taking part."""
    runs: list[tuple[int, int]] = []
    for a_start, a_end in merged(left):
        for b_start, b_end in merged(right):
            start, end = max(a_start, b_start, first), min(a_end, b_end, last)
            if start <= end:
                runs.append((start, end))
    refs = {
        i.ref for i in (*left, *right) for start, end in runs if i.start <= end and i.end >= start
    }
    return sorted(runs), refs


def assess_opioid_benzodiazepine(
    records: PatientRecords, *, as_of: date, params: OpioidBenzoParams | None = None
) -> list[Finding]:
    """One finding when opioid and benzodiazepine supply overlap within the lookback."""
    params = params or OpioidBenzoParams()
    supply = [e for e in records.events if e.kind is not EventKind.STATEMENT]
    opioid_events = [e for e in supply if e.drug.classes & OPIOID_CLASSES]
    benzo_events = [e for e in supply if e.drug.classes & BENZO_CLASSES]
    if not opioid_events or not benzo_events:
        return []
    opioids = [i for v in coverage_by_ingredient(opioid_events).values() for i in v]
    benzos = [i for v in coverage_by_ingredient(benzo_events).values() for i in v]
    last = as_of.toordinal()
    runs, refs = overlapping(opioids, benzos, last - params.lookback_days + 1, last)
    if not runs:
        return []
    by_ref = {e.ref: e for e in supply}
    involved = [by_ref[r] for r in sorted(refs)]
    opioid_drugs = sorted(
        {
            i
            for e in involved
            if e.drug.classes & OPIOID_CLASSES
            for i in e.drug.ingredients
            if i != "naloxone"
        }
    )
    benzo_drugs = sorted(
        {i for e in involved if e.drug.classes & BENZO_CLASSES for i in e.drug.ingredients}
    )
    moud_only = all(
        e.drug.classes & MOUD_CLASSES for e in involved if e.drug.classes & OPIOID_CLASSES
    )
    days = sum(end - start + 1 for start, end in runs)
    first_day = date.fromordinal(runs[0][0]).isoformat()
    prescribers = records.prescribers_of(sorted(refs))
    roles = _roles(records, prescribers)
    opioid_text, benzo_text = "/".join(opioid_drugs), "/".join(benzo_drugs)
    if moud_only:
        summary = f"MOUD ({opioid_text}) overlaps {benzo_text}: coordinate care; do not stop MOUD"
        detail = (
            f"**{opioid_text}** (opioid use disorder treatment) and **{benzo_text}** "
            f"(benzodiazepine) supplies overlap on {days} day(s) in the last "
            f"{params.lookback_days} days, from {first_day}.{roles}\n\n"
            "FDA (2017): buprenorphine and methadone should **not be withheld** from patients "
            "taking benzodiazepines; untreated opioid use disorder can cause more harm. Suggested "
            "step: the prescribers confirm the benzodiazepine's indication and plan together "
            "(taper if appropriate), watch for sedation, and make sure rescue naloxone is at hand."
        )
        severity, authority = Severity.MODERATE, AUTHORITY_MOUD
    else:
        summary = f"Opioid ({opioid_text}) and benzodiazepine ({benzo_text}) supplies overlap"
        detail = (
            f"**{opioid_text}** and **{benzo_text}** supplies overlap on {days} day(s) in the "
            f"last {params.lookback_days} days, from {first_day}.{roles}\n\n"
            "Concurrent opioids and benzodiazepines raise the risk of fatal respiratory "
            "depression (FDA boxed warning, 2016; CDC 2022 recommendation 11). Suggested step: "
            "the prescribers review whether both are needed, consider a taper of one, and offer "
            "rescue naloxone."
        )
        severity, authority = Severity.HIGH, AUTHORITY_HIGH
    return [
        Finding(
            rule=RULE,
            category=Category.SAFETY,
            severity=severity,
            patient=records.patient,
            summary=summary[:139],
            detail=detail,
            implicated=records.orders_behind(sorted(refs)),
            prescribers=prescribers,
            authority=authority,
            as_of=as_of,
        )
    ]


def _roles(records: PatientRecords, prescribers: tuple[str, ...]) -> str:
    """' Prescribers: Practitioner/1 (addiction), ...' or '' when none are known."""
    if not prescribers:
        return ""
    described = [
        f"{p} ({records.prescribers[p].role.value})" if p in records.prescribers else p
        for p in prescribers
    ]
    return " Prescribers: " + ", ".join(described) + "."
