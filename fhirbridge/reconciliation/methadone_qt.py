"""Pure: `methadone-qt`, methadone supply with a prolonged QTc on the latest ECG.

Authority: methadone boxed warning (QT prolongation, torsades de pointes) and Krantz et al.,
"QTc interval screening in methadone treatment", Ann Intern Med 2009;150:387-395
(clinical-anchors.md 3): QTc 450-500 ms, discuss risks and monitor more often; QTc above 500
ms, consider reducing the dose or changing treatment and correct contributing factors. So:
latest QTc > 500 ms is high, 450-500 ms moderate (both limits configurable).

QTc codes (LOINC): 8636-3 "Q-T interval corrected" (VERIFIED, codes-verified.md 2), and the
method-specific 76635-2 and 76634-5 that LOINC's own 76634-5 description points to. Values are
read in milliseconds; a value below 10 can only be seconds (QTc is 300-700 ms) and is scaled.
Methadone may be opioid use disorder treatment: never "stop" advice (FDA 2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation.overlaps import (
    Window,
    exposed,
    practitioners,
    roles,
    summary,
    supply,
    with_classes,
)
from fhirbridge.records import ObservationRecord, PatientRecords

RULE = "methadone-qt"
LOINC = "http://loinc.org"
AUTHORITY = (
    "Methadone boxed warning (QT prolongation); Krantz MJ et al., QTc interval screening in "
    "methadone treatment, Ann Intern Med 2009;150:387-395"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MethadoneQtParams:
    """[analysis.rules.methadone-qt]"""

    lookback_days: int = field(default=90, metadata={"minimum": 1, "maximum": 3650})
    # The latest QTc in the last year is the one that counts (Krantz: ECG before treatment,
    # within 30 days, then yearly).
    qtc_lookback_days: int = field(default=365, metadata={"minimum": 1, "maximum": 3650})
    moderate_ms: float = field(default=450, metadata={"minimum": 300, "maximum": 700})
    high_ms: float = field(default=500, metadata={"minimum": 300, "maximum": 800})
    loinc_codes: tuple[str, ...] = ("8636-3", "76635-2", "76634-5")


def _milliseconds(value: float) -> float:
    return value * 1000 if value < 10 else value


def latest_qtc(
    records: PatientRecords, window: Window, codes: tuple[str, ...]
) -> ObservationRecord | None:
    """The most recent QTc with a number inside the window (ties: the higher reference)."""
    tokens = {f"{LOINC}|{c}" for c in codes}
    found = [
        o
        for o in records.observations
        if o.codes & tokens
        and o.value_number is not None
        and window.first <= o.effective.toordinal() <= window.last
    ]
    return max(found, key=lambda o: (o.effective, o.ref), default=None)


def assess_methadone_qt(
    records: PatientRecords, *, as_of: date, params: MethadoneQtParams | None = None
) -> list[Finding]:
    """One finding when a patient on methadone has a latest QTc at or above the limit."""
    params = params or MethadoneQtParams()
    methadone = exposed(
        with_classes(supply(records), {"methadone"}), Window.ending(as_of, params.lookback_days)
    )
    if not methadone:
        return []
    qtc = latest_qtc(records, Window.ending(as_of, params.qtc_lookback_days), params.loinc_codes)
    if qtc is None or qtc.value_number is None:
        return []
    ms = _milliseconds(qtc.value_number)
    if ms < params.moderate_ms:
        return []
    high = ms > params.high_ms
    refs = [e.ref for e in methadone]
    prescribers = practitioners(records, refs)
    when = qtc.effective.isoformat()
    if high:
        text = f"Methadone with QTc {ms:.0f} ms (> {params.high_ms:.0f} ms) on {when}: review"
        advice = (
            f"Above {params.high_ms:.0f} ms Krantz et al. (2009) advise considering a lower "
            "methadone dose or another treatment, and correcting contributing factors."
        )
    else:
        text = (
            f"Methadone with QTc {ms:.0f} ms ({params.moderate_ms:.0f}-{params.high_ms:.0f} "
            f"ms) on {when}: monitor"
        )
        advice = (
            f"Between {params.moderate_ms:.0f} and {params.high_ms:.0f} ms Krantz et al. (2009) "
            "advise discussing the risk with the patient and monitoring more often."
        )
    detail = (
        f"Latest QTc **{ms:.0f} ms** on {when} ({qtc.ref}) while methadone is supplied."
        f"{roles(records, prescribers)}\n\nMethadone prolongs the QT interval (boxed warning). "
        f"{advice} Suggested step: the methadone prescriber and the patient's other prescribers "
        "review QT-prolonging drugs together (some antidepressants and antipsychotics prolong "
        "QT), check potassium and magnesium, and repeat the ECG. When methadone treats opioid "
        "use disorder, any change is planned with the addiction prescriber or opioid treatment "
        "program, without interrupting treatment (FDA 2017); buprenorphine is an option with "
        "less QT effect."
    )
    return [
        Finding(
            rule=RULE,
            category=Category.MONITORING,
            severity=Severity.HIGH if high else Severity.MODERATE,
            patient=records.patient,
            summary=summary(text),
            detail=detail,
            implicated=records.orders_behind(refs),
            evidence=(qtc.ref,),
            prescribers=prescribers,
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]
