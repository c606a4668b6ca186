"""Pure: PHQ-9 warning signs, `phq9-worsening` and `phq9-suicidality`.

PHQ-9 (Kroenke, Spitzer and Williams, J Gen Intern Med 2001): the total is 0-27; 5, 10, 15 and
20 mark mild, moderate, moderately severe and severe depression. Codes: total LOINC 44261-6,
item 9 ("thoughts that you would be better off dead, or of hurting yourself") LOINC 44260-8
(codes-verified.md section 2), through `config/loinc-screens.toml`.

- `phq9-worsening`: the latest total in the last `lookback_days` rose by `rise_points` (5) or
  more over the previous total taken within `compare_days` (90) before it, or is 20 or more
  (severe). Moderate; high when severe.
- `phq9-suicidality`: an item 9 answer above zero ("several days" or more) in the last
  `lookback_days` that no later answer of zero has superseded. Any positive item 9 asks
  for a same-day suicide risk assessment: high.
"""

from __future__ import annotations

from datetime import date, timedelta

from fhirbridge.adherence.codes import ObservationCodes, load_observation_codes
from fhirbridge.adherence.params import Phq9SuicidalityParams, Phq9WorseningParams
from fhirbridge.adherence.screens import RESULT_STATUSES
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.records import ObservationRecord, PatientRecords

AUTHORITY_WORSENING = (
    "PHQ-9 (Kroenke et al., J Gen Intern Med 2001): a rise of 5 points is a clinically "
    "meaningful change; 20 or more is severe depression"
)
AUTHORITY_ITEM9 = (
    "PHQ-9 item 9 (Kroenke et al., J Gen Intern Med 2001): any positive answer calls for a "
    "suicide risk assessment"
)


def scores(
    records: PatientRecords, code: str, codes: ObservationCodes, as_of: date
) -> list[tuple[date, float, str]]:
    """(day, score, ref) of the results with this code up to as_of, oldest first."""
    found = []
    for obs in records.observations:
        if code in obs.codes and obs.status in RESULT_STATUSES and obs.effective <= as_of:
            value = score_of(obs, codes)
            if value is not None:
                found.append((obs.effective, value, obs.ref))
    return sorted(found)


def score_of(obs: ObservationRecord, codes: ObservationCodes) -> float | None:
    """A number (valueQuantity, valueInteger), else a PHQ answer given as text."""
    if obs.value_number is not None:
        return obs.value_number
    text = (obs.value_text or "").strip().lower()
    answer = codes.item_answers.get(text)
    return float(answer) if answer is not None else None


def assess_phq9_worsening(
    records: PatientRecords, *, as_of: date, params: Phq9WorseningParams | None = None
) -> list[Finding]:
    """One finding when the latest PHQ-9 total rose sharply or is severe."""
    params = params or Phq9WorseningParams()
    codes = load_observation_codes()
    totals = scores(records, codes.phq9_total, codes, as_of)
    if not totals or totals[-1][0] < as_of - timedelta(days=params.lookback_days - 1):
        return []
    day, score, ref = totals[-1]
    earlier = [
        t for t in totals[:-1] if t[0] >= day - timedelta(days=params.compare_days) and t[0] < day
    ]
    previous = earlier[-1] if earlier else None
    rise = score - previous[1] if previous else None
    severe = score >= params.severe_score
    if not severe and (rise is None or rise < params.rise_points):
        return []
    change = (
        f" from {previous[1]:g} on {previous[0].isoformat()} (+{rise:g})"
        if previous and rise is not None and rise > 0
        else ""
    )
    return [
        Finding(
            rule="phq9-worsening",
            category=Category.MONITORING,
            severity=Severity.HIGH if severe else Severity.MODERATE,
            patient=records.patient,
            summary=f"PHQ-9 {score:g} on {day.isoformat()}{change}"[:139],
            detail=(
                f"PHQ-9 total **{score:g}** on {day.isoformat()}{change}. "
                + ("20 or more is severe depression. " if severe else "")
                + "A rise of 5 points or more is clinically meaningful.\n\nSuggested step: "
                "review the treatment plan (dose, adherence, psychotherapy, a switch), and "
                "ask about suicidal thoughts."
            ),
            implicated=(),
            evidence=(ref, previous[2]) if previous else (ref,),
            authority=AUTHORITY_WORSENING,
            as_of=as_of,
        )
    ]


def assess_phq9_suicidality(
    records: PatientRecords, *, as_of: date, params: Phq9SuicidalityParams | None = None
) -> list[Finding]:
    """One finding when a recent PHQ-9 item 9 answer is above zero."""
    params = params or Phq9SuicidalityParams()
    codes = load_observation_codes()
    answers = scores(records, codes.phq9_item9, codes, as_of)
    since = as_of - timedelta(days=params.lookback_days - 1)
    recent = [a for a in answers if a[0] >= since]
    positive = [a for a in recent if a[1] > 0]
    if not positive or recent[-1][1] == 0:
        return []  # none, or a later answer of zero after a re-screen
    day, score, _ = positive[-1]
    return [
        Finding(
            rule="phq9-suicidality",
            category=Category.MONITORING,
            severity=Severity.HIGH,
            patient=records.patient,
            summary=f"PHQ-9 item 9 (thoughts of self-harm) answered {score:g} on {day.isoformat()}",
            detail=(
                f"On {day.isoformat()} the patient answered **{score:g}** (of 3) to PHQ-9 item "
                "9, thoughts of being better off dead or of self-harm.\n\nSuggested step: a "
                "suicide risk assessment today if not yet done, a safety plan, and means "
                "counselling (including the medications at home)."
            ),
            implicated=(),
            evidence=tuple(a[2] for a in positive),
            authority=AUTHORITY_ITEM9,
            as_of=as_of,
        )
    ]
