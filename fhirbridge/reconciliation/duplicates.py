"""Pure: `duplicate-therapy`, two different drugs of one class supplied on the same days.

Authority: HL7 v3 ActCode DUPTHPY "Duplicate Therapy Alert"; HEDIS APC counts 2 or more
concurrent antipsychotics for 90 or more consecutive days (children). No adult HEDIS or PQA
threshold exists (clinical-anchors.md 3: local policy), so the default here is local policy:
an overlap of 45 or more consecutive days, longer than a one-month cross-taper, touching the
last 90 days.

What is not duplicate therapy:
- the same drug refilled early (one ingredient: its fills carry over, PQA);
- two products sharing an ingredient (ER and IR of one drug, a combination and its part);
- a switch whose overlap is shorter than the threshold (a cross-taper).
Severity: moderate when different prescribers are involved (neither may know of the other),
low when one prescriber ordered both (often a deliberate augmentation, still worth noting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import combinations

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    Window,
    coverage,
    iso,
    names,
    overlap,
    practitioners,
    refs_in,
    roles,
    summary,
    supply,
    with_classes,
)
from fhirbridge.records import PatientRecords

RULE = "duplicate-therapy"
AUTHORITY = (
    "HL7 v3 ActCode DUPTHPY (Duplicate Therapy Alert); HEDIS APC (2 or more concurrent "
    "antipsychotics, 90 days, children); adult threshold: local policy"
)
_PLURAL = {
    "antipsychotic": "antipsychotics",
    "ssri": "SSRIs",
    "snri": "SNRIs",
    "benzodiazepine": "benzodiazepines",
    "z-drug": "z-drug hypnotics",
    "gabapentinoid": "gabapentinoids",
    "opioid-analgesic": "opioid analgesics",
    "mood-stabilizer": "mood stabilizers",
}
# Every day from the first ordinal: duplicate therapy is judged on whole overlap runs (an
# overlap that began before the lookback still counts in full), including supply in hand.
_ALL_DAYS = Window(first=1, last=date.max.toordinal())


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicateParams:
    """[analysis.rules.duplicate-therapy]"""

    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    min_overlap_days: int = field(default=45, metadata={"minimum": 1, "maximum": 365})
    # Classes where two drugs at once duplicate each other. Not mood stabilizers (lithium with
    # valproate is standard bipolar care) nor antidepressant-other (bupropion or mirtazapine
    # augmentation is common); opioid analgesics are left to the opioid rules.
    classes: tuple[str, ...] = (
        "antipsychotic",
        "ssri",
        "snri",
        "benzodiazepine",
        "z-drug",
        "gabapentinoid",
    )


def assess_duplicate_therapy(
    records: PatientRecords, *, as_of: date, params: DuplicateParams | None = None
) -> list[Finding]:
    """One finding per drug class with two different drugs overlapping long enough."""
    params = params or DuplicateParams()
    events = supply(records)
    lookback = Window.ending(as_of, params.lookback_days)
    findings: list[Finding] = []
    for cls in params.classes:
        by_drug: dict[tuple[str, ...], list[str]] = {}
        for event in with_classes(events, {cls}):
            key = tuple(i for i in event.drug.ingredients if i != "naloxone") or (
                event.drug.display,
            )
            by_drug.setdefault(key, []).append(event.ref)
        refs: set[str] = set()
        longest = 0
        since = 0
        for (a, a_refs), (b, b_refs) in combinations(sorted(by_drug.items()), 2):
            if set(a) & set(b):
                continue  # a shared ingredient: the same drug in another product
            a_cov = coverage(e for e in events if e.ref in a_refs)
            b_cov = coverage(e for e in events if e.ref in b_refs)
            found = overlap(a_cov, b_cov, _ALL_DAYS)
            if found is None:
                continue
            runs = [
                (s, e)
                for s, e in found.runs
                if e - s + 1 >= params.min_overlap_days and lookback.touches(s, e)
            ]
            if runs:
                refs |= refs_in([*a_cov, *b_cov], runs)
                run_longest = max(e - s + 1 for s, e in runs)
                if run_longest > longest:
                    longest, since = run_longest, min(s for s, _ in runs)
        if refs:
            findings.append(_finding(records, as_of, params, cls, refs, longest, since))
    return findings


def _finding(
    records: PatientRecords,
    as_of: date,
    params: DuplicateParams,
    cls: str,
    refs: set[str],
    longest: int,
    since: int,
) -> Finding:
    involved = [e for e in records.events if e.ref in refs]
    drugs = names(involved).replace("/", ", ")
    count = len(drugs.split(", "))
    label = _PLURAL.get(cls, f"{cls} drugs")
    prescribers = practitioners(records, refs)
    several = len(prescribers) > 1
    who = (
        "different prescribers, who may not know of each other's orders"
        if several
        else "one prescriber"
    )
    detail = (
        f"{count} different {label} (**{drugs}**) are supplied together for {longest} "
        f"consecutive days from {iso(since)}, ordered by {who}.{roles(records, prescribers)}\n\n"
        f"A switch with a cross-taper is not flagged: only overlaps of {params.min_overlap_days} "
        "days or more are (local policy; HEDIS APC uses 90 days for antipsychotics in "
        "children, and no adult standard exists). Suggested step: the prescribers agree which "
        "drug continues; if both are intended (an augmentation), the plan is documented where "
        "both can see it."
    )
    return Finding(
        rule=RULE,
        category=Category.COORDINATION,
        severity=Severity.MODERATE if several else Severity.LOW,
        patient=records.patient,
        summary=summary(
            f"Duplicate therapy: {count} {label} ({drugs}) together for {longest} days"
        ),
        detail=detail,
        implicated=records.orders_behind(sorted(refs)),
        prescribers=prescribers,
        authority=AUTHORITY,
        as_of=as_of,
    )
