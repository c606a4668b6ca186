"""Pure: `medication-list-discrepancy`, what is reported or ordered disagrees across sources.

Two kinds, one finding per drug:
- reported, not supplied: a current MedicationStatement (patient-reported medication list, or
  a medication history entry) of a drug that no order or dispense in the lookback supports,
  e.g. a benzodiazepine taken from a relative's supply or from a prescriber outside this record;
- stopped and still active: one prescriber's order of a drug is `stopped` while another
  prescriber's order of the same drug is still `active`: one of them may not know.

Authority: medication reconciliation (The Joint Commission NPSG.03.06.01: maintain and
communicate accurate patient medication information); DetectedIssue code COMPLY. Only drugs the
drug table classifies are compared (over-the-counter products are not prescribed by design),
and rescue naloxone is never a discrepancy (sold over the counter, handed out by programs).
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
)
from fhirbridge.records import ORDER, STATEMENT, MedicationEvent, PatientRecords

RULE = "medication-list-discrepancy"
AUTHORITY = "Medication reconciliation: The Joint Commission NPSG.03.06.01"
_CURRENT = {"active", "intended"}  # MedicationStatement.status values that claim current use


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscrepancyParams:
    """[analysis.rules.medication-list-discrepancy]"""

    # An order or dispense in the last 365 days supports a reported drug.
    lookback_days: int = field(default=365, metadata={"minimum": 30, "maximum": 3650})
    # Reported drugs of these classes are moderate (controlled or high-risk); others low.
    high_risk_classes: tuple[str, ...] = (
        "opioid-analgesic",
        "buprenorphine",
        "methadone",
        "naltrexone",
        "benzodiazepine",
        "z-drug",
        "gabapentinoid",
        "maoi",
    )


def _drug(event: MedicationEvent) -> frozenset[str]:
    """The drug's identity for matching: its ingredients, naloxone dropped from combinations."""
    ingredients = [i for i in event.drug.ingredients if i != "naloxone"]
    return frozenset(ingredients or event.drug.ingredients)


def assess_medication_list_discrepancy(
    records: PatientRecords, *, as_of: date, params: DiscrepancyParams | None = None
) -> list[Finding]:
    """One finding per reported drug without supply, and per stopped-but-active drug."""
    params = params or DiscrepancyParams()
    window = Window.ending(as_of, params.lookback_days)
    events = [e for e in supply(records) if e.start.toordinal() <= window.last]
    recent = [e for e in events if e.start.toordinal() >= window.first]
    findings: list[Finding] = []
    for statement in records.events:
        if (
            statement.kind is not STATEMENT
            or statement.status not in _CURRENT
            or not statement.drug.classes - {"naloxone-rescue"}
            or statement.start.toordinal() > window.last
            or (statement.end is not None and statement.end.toordinal() < window.first)
        ):
            continue
        if not any(_drug(statement) & _drug(e) for e in recent):
            findings.append(_unsupported(records, as_of, params, statement))
    findings.extend(_stopped_but_active(records, as_of, events, window))
    return findings


def _unsupported(
    records: PatientRecords, as_of: date, params: DiscrepancyParams, statement: MedicationEvent
) -> Finding:
    drug = names([statement])
    source = statement.prescriber or "an unrecorded source"
    risky = statement.drug.classes & set(params.high_risk_classes)
    detail = (
        f"{statement.ref} (reported by {source}) lists **{drug}** as taken since "
        f"{statement.start.isoformat()}, but no order or dispense of {drug} is on record in the "
        f"last {params.lookback_days} days.\n\nMedication reconciliation (Joint Commission "
        "NPSG.03.06.01) asks for one accurate list that every prescriber sees. Suggested step: "
        f"at the next contact ask where the {drug} comes from (a prescriber outside this record, "
        "someone else's supply), check the PDMP for controlled substances, and tell the "
        "patient's prescribers so interactions are judged on what is really taken."
    )
    return Finding(
        rule=RULE,
        category=Category.COORDINATION,
        severity=Severity.MODERATE if risky else Severity.LOW,
        patient=records.patient,
        summary=summary(f"Patient reports {drug}, but no order or dispense of it is on record"),
        detail=detail,
        implicated=(statement.ref,),
        prescribers=(),
        authority=AUTHORITY,
        as_of=as_of,
    )


def _stopped_but_active(
    records: PatientRecords, as_of: date, events: list[MedicationEvent], window: Window
) -> list[Finding]:
    orders = [e for e in events if e.kind is ORDER and e.drug.known]
    stopped = [o for o in orders if o.status == "stopped" and o.start.toordinal() >= window.first]
    active = [o for o in orders if o.status == "active"]
    by_drug: dict[frozenset[str], set[str]] = {}
    for old in stopped:
        for current in active:
            if (
                _drug(old) & _drug(current)
                and old.prescriber
                and current.prescriber
                and old.prescriber != current.prescriber
            ):
                by_drug.setdefault(_drug(old) & _drug(current), set()).update(
                    (old.ref, current.ref)
                )
    findings = []
    for shared, refs in sorted(by_drug.items(), key=lambda item: sorted(item[0])):
        drug = "/".join(sorted(shared))
        prescribers = practitioners(records, refs)
        pairs = sorted(refs)
        detail = (
            f"**{drug}**: {', '.join(r for r in pairs if _status(records, r) == 'stopped')} "
            f"stopped, {', '.join(r for r in pairs if _status(records, r) == 'active')} still "
            f"active, from different prescribers."
            f"{roles(records, prescribers)}\n\nOne prescriber may have stopped the drug for a "
            "reason the other does not know (medication reconciliation, Joint Commission "
            "NPSG.03.06.01). Suggested step: the prescribers confirm together whether the drug "
            "continues, and the order that no longer applies is ended."
        )
        findings.append(
            Finding(
                rule=RULE,
                category=Category.COORDINATION,
                severity=Severity.MODERATE,
                patient=records.patient,
                summary=summary(
                    f"{drug.capitalize()} stopped by one prescriber, still active from another"
                ),
                detail=detail,
                implicated=records.orders_behind(pairs),
                prescribers=prescribers,
                authority=AUTHORITY,
                as_of=as_of,
            )
        )
    return findings


def _status(records: PatientRecords, ref: str) -> str:
    return next((e.status for e in records.events if e.ref == ref), "")
