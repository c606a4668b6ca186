"""Pure: serotonin syndrome risks, `serotonergic-maoi` and `serotonergic-opioid`.

Authorities (clinical-anchors.md 3):
- `serotonergic-maoi`: the fluoxetine (Prozac) label contraindicates it with MAO inhibitors,
  including linezolid and IV methylene blue; between an MAOI and an SSRI/SNRI a 2-week washout
  either way, and 5 weeks after stopping fluoxetine (its long half-life) before an MAOI. FDA on
  planned linezolid or methylene blue: stop the antidepressant at least 2 weeks ahead (5 weeks
  for fluoxetine). So the rule fires on overlapping supply and on a start inside the washout.
- `serotonergic-opioid`: FDA Drug Safety Communication 2016-03-22: serotonin syndrome warnings
  on opioid labels; cases most often with fentanyl and methadone, and tramadol, tapentadol and
  meperidine were already warned. Partners are the serotonergic drugs that communication names
  by class (SSRIs, SNRIs, TCAs, MAOIs, mirtazapine, trazodone).
When methadone is the opioid it may be opioid use disorder treatment: the advice never says to
stop it (FDA 2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.adherence.coverage import Interval
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
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
    with_ingredients,
)
from fhirbridge.records import MedicationEvent, PatientRecords

MAOI_RULE = "serotonergic-maoi"
OPIOID_RULE = "serotonergic-opioid"
MAOI_AUTHORITY = (
    "Fluoxetine (Prozac) prescribing information: contraindicated with MAOIs including "
    "linezolid and IV methylene blue; 14-day washout, 5 weeks after fluoxetine"
)
OPIOID_AUTHORITY = (
    "FDA Drug Safety Communication 2016-03-22: serotonin syndrome with opioids (notably "
    "fentanyl, methadone, tramadol, tapentadol, meperidine) and serotonergic drugs"
)
# Antidepressants outside the SSRI/SNRI classes that are serotonergic (FDA 2016 names TCAs,
# mirtazapine and trazodone; vilazodone and vortioxetine are serotonin reuptake inhibitors).
OTHER_SEROTONERGIC = (
    "vilazodone",
    "vortioxetine",
    "mirtazapine",
    "trazodone",
    "amitriptyline",
    "nortriptyline",
)
NON_PSYCHIATRIC_MAOIS = frozenset({"linezolid", "methylene blue"})


@dataclass(frozen=True, slots=True, kw_only=True)
class MaoiParams:
    """[analysis.rules.serotonergic-maoi]"""

    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    washout_days: int = field(default=14, metadata={"minimum": 1, "maximum": 60})  # 2 weeks
    fluoxetine_washout_days: int = field(default=35, metadata={"minimum": 1, "maximum": 90})
    partner_classes: tuple[str, ...] = ("ssri", "snri")
    partner_ingredients: tuple[str, ...] = OTHER_SEROTONERGIC


@dataclass(frozen=True, slots=True, kw_only=True)
class SerotonergicOpioidParams:
    """[analysis.rules.serotonergic-opioid]"""

    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    opioids: tuple[str, ...] = ("fentanyl", "methadone", "tramadol", "tapentadol", "meperidine")
    partner_classes: tuple[str, ...] = ("ssri", "snri", "maoi")
    partner_ingredients: tuple[str, ...] = OTHER_SEROTONERGIC


def _partners(
    events: list[MedicationEvent], classes: tuple[str, ...], ingredients: tuple[str, ...]
) -> list[MedicationEvent]:
    chosen = {e.ref for e in with_classes(events, classes)}
    chosen |= {e.ref for e in with_ingredients(events, ingredients)}
    return [e for e in events if e.ref in chosen]


def assess_serotonergic_maoi(
    records: PatientRecords, *, as_of: date, params: MaoiParams | None = None
) -> list[Finding]:
    """One finding when an MAOI meets an SSRI/SNRI (or other serotonergic antidepressant)."""
    params = params or MaoiParams()
    events = supply(records)
    maoi_events = with_classes(events, {"maoi"})
    partner_events = [
        e
        for e in _partners(events, params.partner_classes, params.partner_ingredients)
        if "maoi" not in e.drug.classes
    ]
    if not maoi_events or not partner_events:
        return []
    window = Window.ending(as_of, params.lookback_days)
    maoi, partners = coverage(maoi_events), coverage(partner_events)
    both = overlap(maoi, partners, window)
    refs: set[str] = set(both.refs) if both else set()
    fluoxetine = [i for i in partners if "fluoxetine" in i.ingredients]
    others = [i for i in partners if "fluoxetine" not in i.ingredients]
    notes = [
        *_washouts(events, maoi, partners, window, params.washout_days, "MAOI", refs),
        *_washouts(
            events, fluoxetine, maoi, window, params.fluoxetine_washout_days, "fluoxetine", refs
        ),
        *_washouts(events, others, maoi, window, params.washout_days, "2-week", refs),
    ]
    if not refs:
        return []
    involved = [e for e in events if e.ref in refs]
    maoi_text = names(with_classes(involved, {"maoi"}))
    partner_text = names(e for e in involved if "maoi" not in e.drug.classes)
    prescribers = practitioners(records, refs)
    lines: list[str] = []
    if both is not None:
        text = f"MAOI ({maoi_text}) overlaps {partner_text}: contraindicated, serotonin syndrome"
        lines.append(
            f"**{maoi_text}** (MAO inhibitor) and **{partner_text}** supplies overlap on "
            f"{both.days} day(s) in the last {params.lookback_days} days, from "
            f"{both.first_day}."
        )
    else:
        text = f"MAOI ({maoi_text}) and {partner_text} without the washout: serotonin syndrome"
    lines.extend(n[0].upper() + n[1:] + "." for n in notes)
    urgent = (
        " If linezolid or methylene blue is needed, FDA advises stopping the serotonergic "
        "antidepressant ahead (2 weeks; 5 weeks for fluoxetine) when the treatment is planned, "
        "and close monitoring for serotonin syndrome when it is urgent."
        if set(maoi_text.split("/")) & NON_PSYCHIATRIC_MAOIS
        else ""
    )
    detail = (
        " ".join(lines)
        + roles(records, prescribers)
        + "\n\nMAO inhibitors with SSRIs or SNRIs are contraindicated (fluoxetine label): "
        "serotonin syndrome can be fatal. A 2-week washout is needed between them, 5 weeks "
        f"after fluoxetine.{urgent} Suggested step: the prescribers decide together today "
        "which drug continues, and plan the washout before the other starts; watch for "
        "agitation, tremor, clonus and fever meanwhile."
    )
    return [
        Finding(
            rule=MAOI_RULE,
            category=Category.SAFETY,
            severity=Severity.HIGH,
            patient=records.patient,
            summary=summary(text),
            detail=detail,
            implicated=records.orders_behind(sorted(refs)),
            prescribers=prescribers,
            authority=MAOI_AUTHORITY,
            as_of=as_of,
        )
    ]


def assess_serotonergic_opioid(
    records: PatientRecords, *, as_of: date, params: SerotonergicOpioidParams | None = None
) -> list[Finding]:
    """One finding when a serotonergic opioid overlaps a serotonergic drug."""
    params = params or SerotonergicOpioidParams()
    events = supply(records)
    opioid_events = with_ingredients(events, params.opioids)
    partner_events = _partners(events, params.partner_classes, params.partner_ingredients)
    if not opioid_events or not partner_events:
        return []
    found = overlap(
        coverage(opioid_events),
        coverage(partner_events),
        Window.ending(as_of, params.lookback_days),
    )
    if found is None:
        return []
    involved = [e for e in events if e.ref in found.refs]
    opioids = set(params.opioids)
    opioid_text = names(with_ingredients(involved, opioids), keep=opioids.__contains__)
    partner_text = names(e for e in involved if e.ref in {p.ref for p in partner_events})
    with_maoi = any("maoi" in e.drug.classes for e in involved)
    prescribers = practitioners(records, found.refs)
    moud = (
        " If methadone treats opioid use disorder, keep it: adjust the other drug with the "
        "addiction prescriber rather than interrupting treatment (FDA 2017)."
        if "methadone" in opioid_text.split("/")
        else ""
    )
    detail = (
        f"**{opioid_text}** and **{partner_text}** (serotonergic) supplies overlap on "
        f"{found.days} day(s) in the last {params.lookback_days} days, from "
        f"{found.first_day}.{roles(records, prescribers)}\n\n"
        "FDA (2016) requires serotonin syndrome warnings on opioid labels; reported cases "
        "involve fentanyl and methadone most often, and tramadol, tapentadol and meperidine "
        "carry the same warning."
        + (
            " With an MAO inhibitor the combination is usually contraindicated."
            if with_maoi
            else ""
        )
        + " Suggested step: the prescribers confirm both are needed, watch for agitation, "
        "tremor, clonus and fever (especially after a start or dose increase), and tell the "
        f"patient what to look for.{moud}"
    )
    text = f"Serotonergic opioid ({opioid_text}) overlaps {partner_text}: serotonin syndrome risk"
    severity = Severity.HIGH if with_maoi else Severity.MODERATE
    return [
        Finding(
            rule=OPIOID_RULE,
            category=Category.SAFETY,
            severity=severity,
            patient=records.patient,
            summary=summary(text),
            detail=detail,
            implicated=records.orders_behind(list(found.refs)),
            prescribers=prescribers,
            authority=OPIOID_AUTHORITY,
            as_of=as_of,
        )
    ]


def _washouts(
    events: list[MedicationEvent],
    earlier: list[Interval],
    later: list[Interval],
    window: Window,
    within: int,
    what: str,
    refs: set[str],
) -> list[str]:
    """Sentences for each start of `later` inside the washout after `earlier`; adds the fills
    behind them to `refs`."""
    notes: list[str] = []
    for (_, ended), (started, _) in gap_starts(earlier, later, window, within):
        before, after = refs_in(earlier, [(ended, ended)]), refs_in(later, [(started, started)])
        refs.update(before | after)
        notes.append(
            f"{_named(events, after)} started on {iso(started)}, {started - ended - 1} day(s) "
            f"after {_named(events, before)} supply ended on {iso(ended)} ({what} washout "
            f"{within} days)"
        )
    return notes


def _named(events: list[MedicationEvent], refs: set[str]) -> str:
    return names(e for e in events if e.ref in refs)
