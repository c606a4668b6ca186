"""Pure: `multiple-prescribers`, controlled substances from many prescribers or pharmacies.

Authorities (clinical-anchors.md 1.6 and 3): HEDIS Use of Opioids from Multiple Providers
(UOP) counts 4 or more prescribers and 4 or more pharmacies (separately and both); PQA
Opioids from Multiple Providers (OMP) asked for both within 180 days (retired 2024); the PDMP
patient alert 03 "doctor/pharmacy shopping". Defaults: 4 prescribers OR 4 pharmacies in 180
days, both configurable; `require_both` gives the PQA definition. Severity is high when both
thresholds are met, moderate otherwise.

The response CDC 2022 asks for is a review, not a dismissal: check the PDMP (recommendation
9), talk with the other prescribers, and assess for opioid use disorder (recommendation 12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    Window,
    names,
    practitioners,
    roles,
    summary,
    supply,
    with_classes,
    with_ingredients,
)
from fhirbridge.records import PatientRecords

RULE = "multiple-prescribers"
AUTHORITY = (
    "HEDIS Use of Opioids from Multiple Providers (4 or more prescribers, 4 or more "
    "pharmacies); PQA Opioids from Multiple Providers (180 days); CDC 2022 recommendation 9"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiplePrescribersParams:
    """[analysis.rules.multiple-prescribers]"""

    window_days: int = field(default=180, metadata={"minimum": 30, "maximum": 3650})
    min_prescribers: int = field(default=4, metadata={"minimum": 2, "maximum": 50})
    min_pharmacies: int = field(default=4, metadata={"minimum": 2, "maximum": 50})
    require_both: bool = False  # true: PQA OMP (both thresholds), false: HEDIS UOP (either)
    # Controlled substances (US DEA schedules II-V) among the drug classes fhirbridge knows:
    # opioids (II-IV), buprenorphine (III), benzodiazepines and z-drugs (IV), pregabalin (V).
    classes: tuple[str, ...] = (
        "opioid-analgesic",
        "buprenorphine",
        "methadone",
        "benzodiazepine",
        "z-drug",
    )
    ingredients: tuple[str, ...] = ("pregabalin",)


def assess_multiple_prescribers(
    records: PatientRecords, *, as_of: date, params: MultiplePrescribersParams | None = None
) -> list[Finding]:
    """One finding when controlled-substance fills in the window reach either threshold."""
    params = params or MultiplePrescribersParams()
    window = Window.ending(as_of, params.window_days)
    candidates = supply(records)
    controlled = {
        e.ref
        for e in (
            *with_classes(candidates, params.classes),
            *with_ingredients(candidates, params.ingredients),
        )
    }
    events = [
        e
        for e in candidates
        if e.ref in controlled and window.first <= e.start.toordinal() <= window.last
    ]
    refs = [e.ref for e in events]
    prescribers = practitioners(records, refs)
    pharmacies = sorted({e.pharmacy for e in events if e.pharmacy})
    many_prescribers = len(prescribers) >= params.min_prescribers
    many_pharmacies = len(pharmacies) >= params.min_pharmacies
    both = many_prescribers and many_pharmacies
    if not (both if params.require_both else many_prescribers or many_pharmacies):
        return []
    counted = (
        f"{len(prescribers)} prescriber{'s' if len(prescribers) != 1 else ''} and "
        f"{len(pharmacies)} pharmac{'ies' if len(pharmacies) != 1 else 'y'}"
    )
    detail = (
        f"Controlled substances (**{names(events)}**) were ordered or dispensed by {counted} "
        f"in the last {params.window_days} days (thresholds: {params.min_prescribers} "
        f"prescribers, {params.min_pharmacies} pharmacies).{roles(records, prescribers)}"
        + (f" Pharmacies: {', '.join(pharmacies)}." if pharmacies else "")
        + "\n\nHEDIS UOP and PQA OMP count this pattern as an overdose risk. Suggested step: "
        "check the state PDMP (CDC 2022 recommendation 9), let the prescribers agree on one "
        "prescriber and one pharmacy for controlled substances, and assess for opioid use "
        "disorder and offer treatment (recommendation 12). Do not dismiss the patient from "
        "care (CDC 2022)."
    )
    return [
        Finding(
            rule=RULE,
            category=Category.COORDINATION,
            severity=Severity.HIGH if both else Severity.MODERATE,
            patient=records.patient,
            summary=summary(f"Controlled substances from {counted} in {params.window_days} days"),
            detail=detail,
            implicated=records.orders_behind(refs),
            prescribers=prescribers,
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]
