"""Pure: `oud-untreated`, an active opioid use disorder diagnosis without MOUD in 90 days.

Authority: CDC 2022 guideline, recommendation 12 (the CDC opioid CDS REC12 rule fires on an
opioid use disorder diagnosis without buprenorphine or methadone in 90 days): offer or arrange
evidence-based medication treatment; do not dismiss patients because of OUD. DetectedIssue code
CAREGAP (CONTRACT.md).

Diagnosis codes come from the CDC opioid CDS value set "Opioid misuse disorders"
(cqframework/opioid-cds-r4, input/vocabulary/valueset/opioid-misuse-disorders.json, expansion
2023-05-25), whose ICD-10-CM part is `is-a F11` (opioid related disorders): hence the prefix
rule "F11". Its SNOMED part is `is-a 5602001` (opioid abuse) and `is-a 75544000` (opioid
dependence), among others; the codes below are that expansion's abuse and dependence concepts
(withdrawal, poisoning and opioid-induced mood disorders are in the value set too but are not a
use disorder diagnosis, and without a terminology server "is-a" cannot be evaluated here).
Remission codes are left out by default: a patient in sustained remission without medication
is not necessarily a care gap; `include_remission = true` restores the CDC value set's scope.

Treatment is any buprenorphine (MOUD formulations only: a pain patch is not treatment),
methadone or naltrexone supply in the lookback, or a current MedicationStatement of one:
methadone from an opioid treatment program rarely appears as a prescription (ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    MOUD_CLASSES,
    Window,
    exposed,
    practitioners,
    roles,
    supply,
    with_classes,
)
from fhirbridge.records import STATEMENT, ConditionRecord, PatientRecords

RULE = "oud-untreated"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
AUTHORITY = (
    "CDC 2022 Clinical Practice Guideline for Prescribing Opioids, recommendation 12 (offer "
    "or arrange evidence-based treatment for opioid use disorder)"
)
# condition-clinical codes that mean the diagnosis holds now (R4 valueset-condition-clinical).
_ACTIVE = {"active", "recurrence", "relapse"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OudUntreatedParams:
    """[analysis.rules.oud-untreated]"""

    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    include_remission: bool = False
    # ICD-10-CM: CDC value set "Opioid misuse disorders", is-a F11 (dots ignored: F1120 works).
    icd10cm_prefixes: tuple[str, ...] = ("F11",)
    icd10cm_remission: tuple[str, ...] = ("F11.11", "F11.21")  # abuse / dependence, in remission
    # SNOMED CT: the same value set's expansion (SNOMED US 2023-03), abuse and dependence.
    snomed_codes: tuple[str, ...] = (
        "5602001",  # Opioid abuse (disorder)
        "191909007",  # Nondependent opioid abuse (disorder)
        "191912005",  # Nondependent opioid abuse, continuous (disorder)
        "191913000",  # Nondependent opioid abuse, episodic (disorder)
        "145121000119106",  # Intravenous nondependent opioid abuse (disorder)
        "520841000124109",  # Diamorphine abuse (disorder)
        "75544000",  # Opioid dependence (disorder)
        "191819002",  # Continuous opioid dependence (disorder)
        "191820008",  # Episodic opioid dependence (disorder)
        "231477003",  # Dependence on diamorphine (disorder)
        "231478008",  # Methadone dependence (disorder)
        "231479000",  # Morphine dependence (disorder)
        "231480002",  # Opium dependence (disorder)
        "426001001",  # Fentanyl dependence (disorder)
        "703845008",  # Buprenorphine dependence (disorder)
        "1255013006",  # Combined opioid with non-opioid substance dependence (disorder)
        "1255015004",  # ... episodic (disorder)
        "1255018002",  # ... continuous (disorder)
        "1081000119105",  # Opioid dependence, on agonist therapy (disorder)
    )
    snomed_remission: tuple[str, ...] = (
        "191914006",  # Nondependent opioid abuse in remission (disorder)
        "191821007",  # Opioid dependence in remission (disorder)
        "1255019005",  # Combined opioid with non-opioid substance dependence in remission
    )


def is_oud(condition: ConditionRecord, params: OudUntreatedParams) -> bool:
    """Whether a diagnosis is opioid use disorder under the configured code lists."""
    remission_icd = {c.replace(".", "") for c in params.icd10cm_remission}
    prefixes = tuple(p.replace(".", "") for p in params.icd10cm_prefixes)
    snomed = set(params.snomed_codes)
    if params.include_remission:
        snomed.update(params.snomed_remission)
    for token in condition.codes:
        system, _, code = token.partition("|")
        bare = code.replace(".", "").upper()
        if system == ICD10CM and bare.startswith(prefixes):
            if params.include_remission or bare not in remission_icd:
                return True
        elif system == SNOMED and code in snomed:
            return True
    return False


def _active(condition: ConditionRecord, as_of: date) -> bool:
    """Active on as_of: an active clinical status (or none, with no abatement), onset not later."""
    if condition.clinical_status is not None and condition.clinical_status not in _ACTIVE:
        return False
    if condition.abated is not None and condition.abated <= as_of:
        return False
    return condition.onset is None or condition.onset <= as_of


def assess_oud_untreated(
    records: PatientRecords, *, as_of: date, params: OudUntreatedParams | None = None
) -> list[Finding]:
    """One finding when an active OUD diagnosis has no MOUD in the lookback."""
    params = params or OudUntreatedParams()
    diagnoses = [c for c in records.conditions if _active(c, as_of) and is_oud(c, params)]
    if not diagnoses:
        return []
    window = Window.ending(as_of, params.lookback_days)
    moud = with_classes(supply(records), MOUD_CLASSES)
    if exposed(moud, window) or _reported(records, window):
        return []
    # The prescriptions of the last treatment that lapsed, if any: a later lapse after new
    # treatment is then a new finding (a new key), not the one a clinician acknowledged.
    lapsed = sorted(moud, key=lambda e: (e.start, e.ref))
    last = [e.ref for e in lapsed if lapsed and e.start == lapsed[-1].start]
    prescribers = practitioners(records, last)
    names = "; ".join(sorted({c.text or sorted(c.codes)[0] for c in diagnoses}))
    history = (
        f" The last MOUD on record started on {lapsed[-1].start.isoformat()} and has "
        f"lapsed.{roles(records, prescribers)}"
        if lapsed
        else " No MOUD is on record."
    )
    detail = (
        f"Active diagnosis of opioid use disorder (**{names}**), and no buprenorphine, "
        f"methadone or naltrexone supply or reported use in the last {params.lookback_days} "
        f"days.{history}\n\nCDC 2022 recommendation 12: offer or arrange evidence-based "
        "medication treatment (buprenorphine or methadone, or naltrexone) for opioid use "
        "disorder; do not dismiss patients from care because of it. Suggested step: discuss "
        "treatment at the next contact and start or refer (an addiction prescriber or opioid "
        "treatment program); if the patient already receives methadone from an opioid "
        "treatment program, record it as a MedicationStatement; offer rescue naloxone."
    )
    return [
        Finding(
            rule=RULE,
            category=Category.COORDINATION,
            severity=Severity.HIGH,
            patient=records.patient,
            summary="Opioid use disorder without MOUD in the last "
            f"{params.lookback_days} days: offer treatment",
            detail=detail,
            implicated=records.orders_behind(last),
            evidence=tuple(c.ref for c in diagnoses),
            prescribers=prescribers,
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]


def _reported(records: PatientRecords, window: Window) -> bool:
    """A MedicationStatement of MOUD use overlapping the window (e.g. OTP methadone)."""
    for event in records.events:
        if event.kind is not STATEMENT or not event.drug.classes & MOUD_CLASSES:
            continue
        if event.status not in ("active", "intended", "completed"):
            continue
        if event.end is not None:
            end = event.end.toordinal()
        else:  # no end: "active" means ongoing; "completed" means on its start date only
            end = event.start.toordinal() if event.status == "completed" else window.last
        if event.start.toordinal() <= window.last and end >= window.first:
            return True
    return False
