"""Pure: urine drug screen rules, `uds-unexpected-negative` and `uds-unexpected-positive`.

Authority: CDC 2022 Clinical Practice Guideline, recommendation 10, as implemented in the CDC
opioid CDS (REC10, clinical-anchors.md 3): flag *unexpected negatives* (a prescribed substance
absent) and *unexpected positives* (a substance not prescribed). Results are read in every form
labs send (adherence/codes.py); tests and analytes come from `config/loinc-screens.toml`.

- unexpected negative: a screen for an analyte in its `analytes` (buprenorphine
  with norbuprenorphine; methadone with EDDP) on a day the patient's supply of that drug covers
  (carry-over as for PDC; the last day of a fill still counts), and every readable result for
  the analyte that day negative. A positive parent drug or metabolite the same day clears it.
- unexpected positive: a positive result for an analyte in its `analytes` with no supply
  of a drug that explains it (config [analytes]) in the `prescribed_lookback_days` up to the
  specimen day. Reported use (MedicationStatement) is not a prescription.

One finding per rule per patient, over screens in the last `lookback_days`, with the screens as
evidence. Screens are presumptive: the advice is to confirm and to talk with the patient, never
to dismiss them (CDC rec. 10).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from fhirbridge.adherence.codes import Analyte, ObservationCodes, Result, load_observation_codes
from fhirbridge.adherence.coverage import Interval, coverage_by_ingredient
from fhirbridge.adherence.params import UdsNegativeParams, UdsPositiveParams
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.records import STATEMENT, MedicationEvent, PatientRecords

AUTHORITY = (
    "CDC 2022 Clinical Practice Guideline for Prescribing Opioids, recommendation 10 "
    "(unexpected toxicology results)"
)
RESULT_STATUSES = frozenset({"final", "amended", "corrected"})

Screen = tuple[date, str, Result, str]  # (specimen day, analyte, result, Observation ref)


def screens(
    records: PatientRecords, *, as_of: date, lookback_days: int, codes: ObservationCodes
) -> list[Screen]:
    """Readable drug screen results in the lookback, by day."""
    first = as_of.toordinal() - lookback_days + 1
    found: list[Screen] = []
    for obs in records.observations:
        if obs.status not in RESULT_STATUSES or not first <= obs.effective.toordinal():
            continue
        if obs.effective > as_of:
            continue
        known = codes.analyte_of(obs)
        if known is None:
            continue
        result = codes.read_result(obs, known[1])
        if result is not None:
            found.append((obs.effective, known[0], result, obs.ref))
    return sorted(found)


def supply_of(records: PatientRecords, analyte: Analyte) -> list[Interval]:
    """Supply intervals of the prescriptions that account for an analyte."""
    events = [e for e in records.events if e.kind is not STATEMENT and _explains(e, analyte)]
    return [i for runs in coverage_by_ingredient(events).values() for i in runs]


def _explains(event: MedicationEvent, analyte: Analyte) -> bool:
    return bool(
        event.drug.classes & analyte.classes or set(event.drug.ingredients) & analyte.ingredients
    )


def assess_uds_unexpected_negative(
    records: PatientRecords, *, as_of: date, params: UdsNegativeParams | None = None
) -> list[Finding]:
    """One finding when a prescribed, covering MOUD is absent from a screen."""
    params = params or UdsNegativeParams()
    codes = load_observation_codes()
    by_day: dict[tuple[date, str], list[Screen]] = defaultdict(list)
    for screen in screens(records, as_of=as_of, lookback_days=params.lookback_days, codes=codes):
        if screen[1] in params.analytes:
            by_day[(screen[0], screen[1])].append(screen)
    evidence: list[str] = []
    covering: set[str] = set()
    missed: list[tuple[date, str]] = []
    for (day, name), results in sorted(by_day.items()):
        if any(r[2] is Result.POSITIVE for r in results):
            continue
        supply = [i for i in supply_of(records, codes.analytes[name]) if _covers(i, day)]
        if supply:
            evidence.extend(r[3] for r in results)
            covering.update(i.ref for i in supply)
            missed.append((day, name))
    if not missed:
        return []
    day, name = missed[-1]
    refs = sorted(covering)
    listed = ", ".join(f"{n} on {d.isoformat()}" for d, n in missed)
    return [
        Finding(
            rule="uds-unexpected-negative",
            category=Category.MONITORING,
            severity=Severity.MODERATE,
            patient=records.patient,
            summary=f"Urine drug screen on {day.isoformat()} negative for prescribed {name}",
            detail=(
                f"Screens negative for a prescribed medication whose supply covered the "
                f"specimen day: {listed}. Possible reasons include not taking it (diversion, "
                "running out early), dilution, or a test that misses it.\n\n"
                "Suggested step: confirm with definitive testing, then discuss the result with "
                "the patient without dismissing them from care (CDC 2022 rec. 10)."
            ),
            implicated=records.orders_behind(refs),
            evidence=tuple(evidence),
            prescribers=records.prescribers_of(refs),
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]


def assess_uds_unexpected_positive(
    records: PatientRecords, *, as_of: date, params: UdsPositiveParams | None = None
) -> list[Finding]:
    """One finding when a screen is positive for a substance no prescription explains."""
    params = params or UdsPositiveParams()
    codes = load_observation_codes()
    found: list[Screen] = []
    for screen in screens(records, as_of=as_of, lookback_days=params.lookback_days, codes=codes):
        day, name, result, _ = screen
        if result is not Result.POSITIVE or name not in params.analytes:
            continue
        since = day.toordinal() - params.prescribed_lookback_days + 1
        supply = supply_of(records, codes.analytes[name])
        if not any(i.end >= since and i.start <= day.toordinal() for i in supply):
            found.append(screen)
    if not found:
        return []
    names = sorted({s[1] for s in found})
    last = found[-1][0]
    severity = Severity.HIGH if set(names) & set(params.high_severity) else Severity.MODERATE
    return [
        Finding(
            rule="uds-unexpected-positive",
            category=Category.MONITORING,
            severity=severity,
            patient=records.patient,
            summary=f"Urine drug screen positive for {', '.join(names)} (not prescribed)"[:139],
            detail=(
                f"Positive for {_listed(found)}, with no prescription for it in the "
                f"{params.prescribed_lookback_days} days before the specimen. "
                + (
                    "Fentanyl exposure carries a high overdose risk. "
                    if "fentanyl" in names
                    else ""
                )
                + f"Latest specimen: {last.isoformat()}.\n\n"
                "Suggested step: confirm with definitive testing, discuss the result with the "
                "patient, offer or adjust treatment for substance use, and make sure rescue "
                "naloxone is at hand (CDC 2022 rec. 10 and 8)."
            ),
            implicated=(),
            evidence=tuple(s[3] for s in found),
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]


def _covers(interval: Interval, day: date) -> bool:
    return interval.start <= day.toordinal() <= interval.end


def _listed(found: Iterable[Screen]) -> str:
    return ", ".join(f"{name} on {day.isoformat()}" for day, name, _, _ in found)
