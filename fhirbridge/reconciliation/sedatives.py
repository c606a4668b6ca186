"""Pure: an opioid with another CNS depressant, supplies overlapping in the lookback.

One engine, three rules (CONTRACT.md ids), each a `DepressantRule` with its partner classes,
authority and wording:
- `opioid-benzodiazepine`: FDA Drug Safety Communication 2016-08-31 (boxed warnings on opioid
  analgesics and benzodiazepines), CDC 2022 recommendation 11.
- `opioid-gabapentinoid`: FDA Drug Safety Communication 2019-12-19: serious breathing problems
  with gabapentin or pregabalin in patients with respiratory risk factors, which include
  opioids and other CNS depressants; start low and monitor. Not in the CDC CNS-depressant value
  set (clinical-anchors.md 3.2), so fhirbridge carries it itself.
- `opioid-sedative-hypnotic`: z-drugs (zolpidem, eszopiclone, zaleplon). The 2016 opioid boxed
  warning covers "benzodiazepines or other CNS depressants"; CDC 2022 recommendation 11 asks
  for caution with opioids and other CNS depressants.

With MOUD (buprenorphine or methadone) as the only opioid, FDA 2017 says MOUD should not be
withheld: the finding is moderate and its advice is coordination, never "stop the MOUD".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    MOUD_AGONIST_CLASSES,
    MOUD_NOT_WITHHELD,
    OPIOID_CLASSES,
    Window,
    coverage,
    names,
    overlap,
    practitioners,
    roles,
    summary,
    supply,
    with_classes,
)
from fhirbridge.records import PatientRecords

AUTHORITY_MOUD = (
    "FDA Drug Safety Communication 2017-09-20: buprenorphine and methadone should not be "
    "withheld from patients taking benzodiazepines or other CNS depressants"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SedativeParams:
    """Parameters of an opioid + CNS depressant rule."""

    # An overlap on any day of the last 90 is current enough to act on (CDC rec 11 CDS looks
    # at active prescriptions; 90 days covers a quarter of monthly fills).
    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})


@dataclass(frozen=True, slots=True, kw_only=True)
class DepressantRule:
    """What differs between the opioid + CNS depressant rules."""

    rule: str
    partner_classes: frozenset[str]
    partner: str  # what the partner is, in words: "benzodiazepine", "gabapentinoid"
    severity: Severity  # when an opioid analgesic takes part (MOUD alone: always moderate)
    authority: str  # when an opioid analgesic takes part
    risk: str  # the harm, with its source
    step: str  # the suggested coordination step, opioid analgesic case
    moud_step: str  # the suggested coordination step, MOUD case


BENZODIAZEPINE = DepressantRule(
    rule="opioid-benzodiazepine",
    partner_classes=frozenset({"benzodiazepine"}),
    partner="benzodiazepine",
    severity=Severity.HIGH,
    authority="FDA Drug Safety Communication 2016-08-31 (boxed warning, opioids with "
    "benzodiazepines); CDC 2022 Clinical Practice Guideline, recommendation 11",
    risk="Concurrent opioids and benzodiazepines raise the risk of fatal respiratory "
    "depression (FDA boxed warning, 2016; CDC 2022 recommendation 11).",
    step="the prescribers review whether both are needed, consider a taper of one, and offer "
    "rescue naloxone.",
    moud_step="the prescribers confirm the benzodiazepine's indication and plan together "
    "(taper if appropriate), watch for sedation, and make sure rescue naloxone is at hand.",
)

GABAPENTINOID = DepressantRule(
    rule="opioid-gabapentinoid",
    partner_classes=frozenset({"gabapentinoid"}),
    partner="gabapentinoid",
    severity=Severity.MODERATE,
    authority="FDA Drug Safety Communication 2019-12-19 (gabapentinoids: serious breathing "
    "difficulties with opioids and other CNS depressants)",
    risk="Gabapentin and pregabalin with an opioid can cause serious breathing difficulties "
    "(FDA, 2019): start the gabapentinoid at the lowest dose and monitor for sedation and "
    "respiratory depression.",
    step="the prescribers confirm the gabapentinoid's indication and dose together, monitor "
    "for sedation and breathing problems, and offer rescue naloxone.",
    moud_step="the prescribers confirm the gabapentinoid's indication and dose together "
    "(gabapentinoid misuse is common in opioid use disorder), monitor for sedation, and make "
    "sure rescue naloxone is at hand.",
)

SEDATIVE_HYPNOTIC = DepressantRule(
    rule="opioid-sedative-hypnotic",
    partner_classes=frozenset({"z-drug"}),
    partner="sedative-hypnotic",
    severity=Severity.HIGH,
    authority="FDA Drug Safety Communication 2016-08-31 (boxed warning, opioids with "
    "benzodiazepines or other CNS depressants); CDC 2022 Clinical Practice Guideline, "
    "recommendation 11",
    risk="Opioids with other CNS depressants such as z-drug hypnotics add to sedation and "
    "respiratory depression (opioid boxed warning, FDA 2016; CDC 2022 recommendation 11).",
    step="the prescribers review whether the hypnotic is needed (non-drug treatment of "
    "insomnia first), consider tapering it, and offer rescue naloxone.",
    moud_step="the prescribers review the sleep problem and the hypnotic together (non-drug "
    "treatment of insomnia first), watch for sedation, and make sure rescue naloxone is at "
    "hand.",
)


def assess_depressant(
    spec: DepressantRule,
    records: PatientRecords,
    *,
    as_of: date,
    params: SedativeParams | None = None,
) -> list[Finding]:
    """One finding when opioid and partner supplies overlap within the lookback."""
    params = params or SedativeParams()
    events = supply(records)
    opioids = with_classes(events, OPIOID_CLASSES)
    partners = with_classes(events, spec.partner_classes)
    if not opioids or not partners:
        return []
    found = overlap(
        coverage(opioids), coverage(partners), Window.ending(as_of, params.lookback_days)
    )
    if found is None:
        return []
    involved = [e for e in events if e.ref in found.refs]
    opioid_events = with_classes(involved, OPIOID_CLASSES)
    opioid_text = names(opioid_events)
    partner_text = names(with_classes(involved, spec.partner_classes))
    moud_only = all(e.drug.classes & MOUD_AGONIST_CLASSES for e in opioid_events)
    prescribers = practitioners(records, found.refs)
    when = (
        f"supplies overlap on {found.days} day(s) in the last {params.lookback_days} days, "
        f"from {found.first_day}.{roles(records, prescribers)}"
    )
    if moud_only:
        text = f"MOUD ({opioid_text}) overlaps {partner_text}: coordinate care; do not stop MOUD"
        detail = (
            f"**{opioid_text}** (opioid use disorder treatment) and **{partner_text}** "
            f"({spec.partner}) {when}\n\n{MOUD_NOT_WITHHELD} {spec.risk} Suggested step: "
            f"{spec.moud_step}"
        )
        severity, authority = Severity.MODERATE, AUTHORITY_MOUD
    else:
        text = f"Opioid ({opioid_text}) and {spec.partner} ({partner_text}) supplies overlap"
        detail = (
            f"**{opioid_text}** and **{partner_text}** ({spec.partner}) {when}\n\n{spec.risk} "
            f"Suggested step: {spec.step}"
        )
        severity, authority = spec.severity, spec.authority
    return [
        Finding(
            rule=spec.rule,
            category=Category.SAFETY,
            severity=severity,
            patient=records.patient,
            summary=summary(text),
            detail=detail,
            implicated=records.orders_behind(list(found.refs)),
            prescribers=prescribers,
            authority=authority,
            as_of=as_of,
        )
    ]


def assess_opioid_gabapentinoid(
    records: PatientRecords, *, as_of: date, params: SedativeParams | None = None
) -> list[Finding]:
    """`opioid-gabapentinoid` (FDA 2019)."""
    return assess_depressant(GABAPENTINOID, records, as_of=as_of, params=params)


def assess_opioid_sedative_hypnotic(
    records: PatientRecords, *, as_of: date, params: SedativeParams | None = None
) -> list[Finding]:
    """`opioid-sedative-hypnotic` (z-drugs; FDA 2016, CDC 2022 rec 11)."""
    return assess_depressant(SEDATIVE_HYPNOTIC, records, as_of=as_of, params=params)
