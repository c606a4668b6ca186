"""Pure: `naltrexone-opioid`, naltrexone with an opioid agonist, or started too soon after one.

Authority (clinical-anchors.md 3, naltrexone row): the naltrexone (Vivitrol) labeling makes
opioid analgesics and current physiologic opioid dependence contraindications; patients must be
opioid-free for 7-10 days before starting, and patients leaving buprenorphine or methadone may
be vulnerable to precipitated withdrawal for up to 2 weeks. fhirbridge treats any overlap as
critical, reported as `high` (the contract's top severity).

Two ways to fire, one finding per patient:
- overlap: naltrexone supply and any opioid agonist supply (analgesic, buprenorphine,
  methadone) on the same day in the lookback;
- washout: a naltrexone course that starts inside the lookback less than the washout after the
  last buprenorphine or methadone supply (default 14 days) or opioid analgesic supply
  (default 7 days) ended.
Naltrexone is MOUD: the advice is coordination, never to stop it (FDA 2017 principle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    MOUD_AGONIST_CLASSES,
    OPIOID_CLASSES,
    Window,
    coverage,
    gap_starts,
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

RULE = "naltrexone-opioid"
AUTHORITY = (
    "Naltrexone extended-release (Vivitrol) prescribing information: contraindicated with "
    "opioid analgesics and current opioid dependence; opioid-free 7-10 days before starting, "
    "up to 2 weeks after buprenorphine or methadone"
)
RISK = (
    "Naltrexone blocks opioid analgesia and precipitates withdrawal in a patient with opioids "
    "on board; trying to overcome the blockade can cause overdose (naltrexone labeling)."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NaltrexoneParams:
    """[analysis.rules.naltrexone-opioid]"""

    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    # Vivitrol label: leaving buprenorphine or methadone, precipitated withdrawal "up to 2 weeks".
    washout_after_moud_days: int = field(default=14, metadata={"minimum": 1, "maximum": 30})
    # Vivitrol label: opioid-free for a minimum of 7-10 days (short-acting opioids).
    washout_after_analgesic_days: int = field(default=7, metadata={"minimum": 1, "maximum": 30})


def assess_naltrexone_opioid(
    records: PatientRecords, *, as_of: date, params: NaltrexoneParams | None = None
) -> list[Finding]:
    """One finding when naltrexone meets opioid supply, or starts within the washout."""
    params = params or NaltrexoneParams()
    events = supply(records)
    naltrexone = coverage(with_classes(events, {"naltrexone"}))
    opioid_events = with_classes(events, OPIOID_CLASSES)
    if not naltrexone or not opioid_events:
        return []
    window = Window.ending(as_of, params.lookback_days)
    both = overlap(naltrexone, coverage(opioid_events), window)
    refs: set[str] = set(both.refs) if both else set()
    washouts: list[str] = []
    for classes, within in (
        (MOUD_AGONIST_CLASSES, params.washout_after_moud_days),
        (frozenset({"opioid-analgesic"}), params.washout_after_analgesic_days),
    ):
        earlier = coverage(with_classes(opioid_events, classes))
        for (_, ended), (started, _) in gap_starts(earlier, naltrexone, window, within):
            before = refs_in(earlier, [(ended, ended)])
            refs |= before | refs_in(naltrexone, [(started, started)])
            drug = names(e for e in events if e.ref in before)
            washouts.append(
                f"naltrexone started on {iso(started)}, {started - ended - 1} day(s) after the "
                f"last {drug} supply ended on {iso(ended)} (washout {within} days)"
            )
    if not refs:
        return []
    involved = [e for e in events if e.ref in refs]
    opioid_text = names(with_classes(involved, OPIOID_CLASSES))
    prescribers = practitioners(records, refs)
    lines: list[str] = []
    if both is not None:
        text = (
            f"Naltrexone and opioid ({opioid_text}) supplies overlap: blockade and withdrawal risk"
        )
        lines.append(
            f"**naltrexone** (opioid antagonist) and **{opioid_text}** supplies overlap on "
            f"{both.days} day(s) in the last {params.lookback_days} days, from "
            f"{both.first_day}."
        )
    else:
        text = f"Naltrexone started too soon after {opioid_text}: risk of precipitated withdrawal"
    if both is None:
        lines.append(washouts[0][0].upper() + washouts[0][1:] + ".")
        washouts = washouts[1:]
    lines.extend(f"Also: {w}." for w in washouts)
    step = (
        "Suggested step: the addiction prescriber and the opioid prescriber talk before the "
        "next naltrexone dose or opioid fill: plan non-opioid pain treatment, or manage "
        "essential opioid analgesia together under monitoring; confirm the patient is "
        "opioid-free (urine opioid screen or naloxone challenge) before naltrexone continues; "
        "keep the patient's opioid use disorder treatment in the plan and rescue naloxone at "
        "hand."
    )
    detail = " ".join(lines) + roles(records, prescribers) + f"\n\n{RISK} {step}"
    return [
        Finding(
            rule=RULE,
            category=Category.SAFETY,
            severity=Severity.HIGH,
            patient=records.patient,
            summary=summary(text),
            detail=detail,
            implicated=records.orders_behind(sorted(refs)),
            prescribers=prescribers,
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]
