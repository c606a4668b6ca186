"""Pure: `naloxone-missing`, a patient on MOUD or an opioid with no rescue naloxone on record.

Authority: CDC 2022 guideline, recommendation 8: offer naloxone when overdose risk is
increased, notably with a history of overdose or substance use disorder, higher doses
(>= 50 MME/day) or concurrent benzodiazepines (clinical-anchors.md 3); the naltrexone
(Vivitrol) labeling asks for an overdose-reversal agent to be discussed or prescribed at each
injection. DetectedIssue code CAREGAP.

Rescue naloxone is the drug class `naloxone-rescue` (single-ingredient naloxone, and nalmefene):
buprenorphine/naloxone never counts, because there naloxone is an abuse deterrent
(clinical-anchors.md 3.2). An order, a dispense, or a MedicationStatement (harm-reduction
programs hand out kits that no prescriber orders) in the rescue lookback counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    MOUD_CLASSES,
    OPIOID_CLASSES,
    Window,
    coverage,
    exposed,
    names,
    overlap,
    practitioners,
    roles,
    summary,
    supply,
    with_classes,
)
from fhirbridge.records import STATEMENT, MedicationEvent, PatientRecords

RULE = "naloxone-missing"
RESCUE = "naloxone-rescue"
AUTHORITY = (
    "CDC 2022 Clinical Practice Guideline for Prescribing Opioids, recommendation 8 (offer "
    "naloxone); naltrexone (Vivitrol) prescribing information (overdose-reversal agent)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NaloxoneParams:
    """[analysis.rules.naloxone-missing]"""

    # On an opioid or MOUD: supply on any day of the last 90 days.
    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    # Rescue naloxone recorded in the last 365 days counts. Local policy, not a guideline
    # number: kits are used, lost or expire (nasal spray shelf life is about 2-3 years), so a
    # yearly check that the patient still has one is a reasonable default.
    rescue_lookback_days: int = field(default=365, metadata={"minimum": 1, "maximum": 3650})


def assess_naloxone_missing(
    records: PatientRecords, *, as_of: date, params: NaloxoneParams | None = None
) -> list[Finding]:
    """One finding when opioid or MOUD supply in the lookback has no rescue naloxone beside it."""
    params = params or NaloxoneParams()
    # The rescue check first: it reads each event once, exposure works out coverage.
    if _has_rescue(records.events, Window.ending(as_of, params.rescue_lookback_days)):
        return []
    events = supply(records)
    window = Window.ending(as_of, params.lookback_days)
    on = exposed(with_classes(events, OPIOID_CLASSES | MOUD_CLASSES), window)
    if not on:
        return []
    drugs = names(on)
    refs = [e.ref for e in on]
    prescribers = practitioners(records, refs)
    moud = [e for e in on if e.drug.classes & MOUD_CLASSES]
    benzodiazepines = with_classes(events, {"benzodiazepine"})
    benzo = overlap(coverage(on), coverage(benzodiazepines), window) if benzodiazepines else None
    risks = []
    if moud:
        risks.append(f"opioid use disorder treatment ({names(moud)})")
    if benzo is not None:
        risks.append("a benzodiazepine supplied on the same days")
    # Higher severity where CDC rec 8 names the risk: substance use disorder (the patient is on
    # MOUD) or benzodiazepine co-use.
    severity = Severity.HIGH if risks else Severity.MODERATE
    why = f" Risk factors CDC names here: {' and '.join(risks)}." if risks else ""
    detail = (
        f"**{drugs}** supplied in the last {params.lookback_days} days, and no rescue naloxone "
        f"(order, dispense or reported kit) in the last {params.rescue_lookback_days} days."
        f"{roles(records, prescribers)}{why}\n\n"
        "CDC 2022 recommendation 8: offer naloxone to patients at increased risk of overdose. "
        "Buprenorphine/naloxone does not count: its naloxone is an abuse deterrent, not a "
        "rescue dose. Suggested step: one prescriber (usually the one who prescribes the "
        "opioid or MOUD) orders rescue naloxone and teaches the patient and family to use it; "
        "a kit from a harm-reduction program can be recorded instead."
    )
    return [
        Finding(
            rule=RULE,
            category=Category.SAFETY,
            severity=severity,
            patient=records.patient,
            summary=summary(f"On {drugs} with no rescue naloxone on record: offer naloxone"),
            detail=detail,
            implicated=records.orders_behind(refs),
            prescribers=prescribers,
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]


def _has_rescue(events: tuple[MedicationEvent, ...], window: Window) -> bool:
    """An order, dispense or statement of rescue naloxone dated in the window, or a statement
    still active in it (reported possession)."""
    for event in events:
        if RESCUE not in event.drug.classes:
            continue
        day = event.start.toordinal()
        if window.first <= day <= window.last:
            return True
        if event.kind is STATEMENT and day <= window.last and event.status == "active":
            return True
    return False
