"""Pure: MOUD continuity (HEDIS POD) and the `moud-gap` rule.

HEDIS Pharmacotherapy for Opioid Use Disorder (clinical-anchors.md 1.3):
- coverage per medication: fills of the *same* medication that overlap are summed (the later
  one starts when the earlier runs out, e.g. 7-day fills on Jan 1 and Jan 5 cover Jan 1-14);
  *different* medications are computed separately and never shifted. A medication is a product
  (its ingredient set), so buprenorphine and buprenorphine/naloxone are separate rows, as in the
  POD medication table. Each product uses its dispenses, else its orders (CONTRACT.md).
- a treatment episode starts on a fill with no MOUD coverage in the 31 days before it;
- continuity fails on a gap of 8 or more consecutive uncovered days.

`moud-gap` raises one finding when MOUD coverage in the last 180 days (from the start of
treatment, if that is later) has such a gap, including a gap still open on as_of. Methadone
counts only when configured: the terminology puts it in the `moud` group only then
(ARCHITECTURE.md: opioid treatment program dosing is usually outside the EHR). Inpatient stays
are censored as for PDC (adherence/inpatient.py): hospital days are not gap days, supply on hand
at admission resumes after discharge, and gap lengths count days outside hospital.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhirbridge.adherence.coverage import Interval, coverage_by_ingredient, gaps, merged
from fhirbridge.adherence.inpatient import Censor
from fhirbridge.adherence.params import MoudGapParams
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.records import STATEMENT, PatientRecords
from fhirbridge.slotted import direct_init

RULE = "moud-gap"
AUTHORITY = (
    "HEDIS Pharmacotherapy for Opioid Use Disorder (POD): treatment without a gap of 8 or "
    "more consecutive days"
)


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Episode:
    """One MOUD treatment episode: from a new start to the last covered day."""

    start: date  # a fill with no MOUD coverage in the `new_episode_days` before it
    end: date  # the last covered day (may lie after as_of: supply on hand)
    gaps: tuple[tuple[date, date], ...]  # uncovered runs of `gap_days` or more inside it


def moud_intervals(records: PatientRecords, censor: Censor | None = None) -> list[Interval]:
    """Supply intervals of every MOUD product, each carried over on its own (POD).

    With a censor, intervals are positions: supply on hand at admission resumes after discharge.
    """
    events = [e for e in records.events if e.kind is not STATEMENT and "moud" in e.drug.groups]
    position = censor.position if censor else None
    runs = coverage_by_ingredient(events, position=position)
    return [i for product in runs.values() for i in product]


def episodes(
    records: PatientRecords, *, as_of: date, params: MoudGapParams | None = None
) -> list[Episode]:
    """MOUD treatment episodes up to as_of, each with its gaps of `gap_days` or more."""
    params = params or MoudGapParams()
    censor = Censor.of(records.stays, as_of)
    last = censor.last(as_of.toordinal()) if censor else as_of.toordinal()
    runs = [r for r in merged(moud_intervals(records, censor)) if r[0] <= last]
    found: list[Episode] = []
    group: list[tuple[int, int]] = []
    for run in runs:
        if group and run[0] - group[-1][1] - 1 >= params.new_episode_days:
            found.append(_episode(group, params, censor))
            group = []
        group.append(run)
    if group:
        found.append(_episode(group, params, censor))
    return found


def _episode(runs: list[tuple[int, int]], params: MoudGapParams, censor: Censor) -> Episode:
    holes = gaps(runs, runs[0][0], runs[-1][1])
    return Episode(
        start=_calendar(censor, runs[0][0], runs[0][0])[0],
        end=_calendar(censor, runs[-1][1], runs[-1][1])[1],
        gaps=tuple(_calendar(censor, a, b) for a, b in holes if b - a + 1 >= params.gap_days),
    )


def _calendar(censor: Censor, first: int, last: int) -> tuple[date, date]:
    """Positions [first, last] as calendar dates (first and last day; stays lie inside)."""
    runs = censor.calendar(first, last) if censor else [(first, last)]
    return date.fromordinal(runs[0][0]), date.fromordinal(runs[-1][1])


def assess_moud_gap(
    records: PatientRecords, *, as_of: date, params: MoudGapParams | None = None
) -> list[Finding]:
    """One finding when MOUD coverage in the lookback has a gap of `gap_days` or more."""
    params = params or MoudGapParams()
    censor = Censor.of(records.stays, as_of)
    intervals = moud_intervals(records, censor)
    if not intervals:
        return []

    def position(day: date) -> int:
        return censor.position(day.toordinal()) if censor else day.toordinal()

    last = censor.last(as_of.toordinal()) if censor else as_of.toordinal()
    # By ordinal: `timedelta(days=n)` costs 0.5 µs.
    since = date.fromordinal(as_of.toordinal() - params.lookback_days + 1)
    window = position(since)
    recent = [i for i in intervals if i.end >= window and i.start <= last]
    if not recent:
        return []  # no MOUD in the lookback: not in treatment (oud-untreated's concern)
    first = max(window, min(i.start for i in intervals))
    holes = [
        (a, b) for a, b in gaps(merged(intervals), first, last) if b - a + 1 >= params.gap_days
    ]
    if not holes:
        return []
    behind = {i.ref for i in recent}
    refs = sorted(behind)
    longest = max(b - a + 1 for a, b in holes)
    listed = "; ".join(
        "{} to {} ({} days{})".format(
            *(d.isoformat() for d in _calendar(censor, a, b)),
            b - a + 1,
            ", still open" if b == last else "",
        )
        for a, b in holes
    )
    drugs = sorted(
        {i for e in records.events if e.ref in behind for i in e.drug.ingredients} - {"naloxone"}
    )

    return [
        Finding(
            rule=RULE,
            category=Category.ADHERENCE,
            severity=Severity.HIGH,
            patient=records.patient,
            summary=(
                f"MOUD coverage gap of {longest} days in the last {params.lookback_days} days"
                f" ({len(holes)} gap(s) of {params.gap_days}+ days)"
            ),
            detail=(
                f"Supply of **{', '.join(drugs) or 'MOUD'}** left {len(holes)} gap(s) of "
                f"{params.gap_days} or more consecutive days since {since.isoformat()}: "
                f"{listed}.\n\n"
                "HEDIS POD counts treatment as continuous only without a gap of 8 or more "
                "days; a lapse in opioid use disorder treatment raises the risk of return to "
                "use and overdose. Suggested step: contact the patient, check for barriers to "
                "refills, and confirm rescue naloxone is at hand."
            ),
            implicated=records.orders_behind(refs),
            prescribers=records.prescribers_of(refs),
            authority=AUTHORITY,
            as_of=as_of,
        )
    ]
