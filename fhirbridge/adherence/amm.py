"""Pure: HEDIS Antidepressant Medication Management (AMM) phases for a new episode.

clinical-anchors.md 1.4: a new treatment episode starts on the index prescription start date
(IPSD), an antidepressant fill with no antidepressant fill in the 105 days before it.
- Effective Acute Phase: at least 84 days of treatment in IPSD … IPSD + 114 (115 days).
- Effective Continuation Phase: at least 180 days of treatment in IPSD … IPSD + 231 (232 days).

Treatment days are counted as for PDC: each product on its dispenses, else its orders; overlapping
fills of the same ingredient carried over, different ingredients not shifted, a day counted once.
The episode measured is the latest new one whose IPSD lies in the PDC window. A phase whose window
has elapsed by as_of is `met` or `not-met`; one still open is `on-track` while the days missed so
far fit in its allowance (31 days acute, 52 continuation) and `off-track` once they do not.

An internal, non-certified use: HEDIS also requires a major depression diagnosis and continuous
enrollment, which fhirbridge does not check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirbridge.adherence.coverage import START_REF, covered_days, select_fills
from fhirbridge.adherence.params import AmmParams
from fhirbridge.records import STATEMENT, MedicationEvent, PatientRecords
from fhirbridge.slotted import direct_init

GROUP = "antidepressant"


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AmmResult:
    """One adherence.ndjson line for an AMM phase (fields documented in the README)."""

    patient: str
    group: str  # always "antidepressant"
    measure: str  # "AMM-acute" | "AMM-continuation"
    status: str  # met | not-met (window elapsed) | on-track | off-track (window open)
    period_start: date  # the IPSD
    period_end: date  # IPSD + 114 or IPSD + 231
    days_covered: int  # treatment days in the window up to min(period_end, as_of)
    days_required: int  # 84 or 180
    days_in_period: int  # 115 or 232
    fills: tuple[str, ...]  # fills from the IPSD to the window's end, in date order
    basis: str  # "dispense" | "order"

    @property
    def value(self) -> float:
        """Share of the required treatment days reached so far, capped at 1."""
        return round(min(self.days_covered, self.days_required) / self.days_required, 4)

    @property
    def adherent(self) -> bool | None:
        """True when met, False when not met, None while the window is open."""
        return {"met": True, "not-met": False}.get(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "group": self.group,
            "measure": self.measure,
            "value": self.value,
            "adherent": self.adherent,
            "status": self.status,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "days_covered": self.days_covered,
            "days_required": self.days_required,
            "days_in_period": self.days_in_period,
            "fills": len(self.fills),
            "basis": self.basis,
        }


def new_episode_start(
    fills: Sequence[MedicationEvent], *, as_of: date, window_days: int, history_days: int
) -> date | None:
    """The latest IPSD in the window: a fill with no fill in the `history_days` before it."""
    dates = sorted({f.start for f in fills if f.start <= as_of})
    first_allowed = date.fromordinal(as_of.toordinal() - window_days + 1)
    found = None
    for i, day in enumerate(dates):
        if (i == 0 or (day - dates[i - 1]).days > history_days) and day >= first_allowed:
            found = day
    return found


def assess_amm(
    records: PatientRecords,
    *,
    as_of: date,
    window_days: int = 365,
    params: AmmParams | None = None,
    fills: tuple[list[MedicationEvent], str] | None = None,
) -> tuple[AmmResult, ...]:
    """The acute and continuation phase lines for the patient's latest new episode.

    `fills`: the patient's antidepressant fills as `select_fills` chose them, in `START_REF`
    order, and their basis, when the caller has them (assess_adherence selects them once for
    PDC and AMM); else they are chosen from `records`.
    """
    params = params or AmmParams()
    if fills is None:
        events = [e for e in records.events if e.kind is not STATEMENT and GROUP in e.drug.groups]
        chosen, basis = select_fills(events)
        chosen.sort(key=START_REF)  # date order: the counted fills need no sorting of their own
    else:
        chosen, basis = fills
    if not chosen:
        return ()
    ipsd = new_episode_start(
        chosen, as_of=as_of, window_days=window_days, history_days=params.negative_history_days
    )
    if ipsd is None:
        return ()
    phases = (
        ("AMM-acute", params.acute_days, params.acute_window),
        ("AMM-continuation", params.continuation_days, params.continuation_window),
    )
    results = []
    for measure, required, window in phases:
        # By ordinal: `timedelta(days=n)` costs 0.5 µs (runs twice per patient on an episode).
        end = date.fromordinal(ipsd.toordinal() + window - 1)
        last = min(end, as_of)
        counted = [f for f in chosen if ipsd <= f.start <= last and f.days_supply]
        covered = covered_days(
            [
                (
                    f.start.toordinal(),
                    f.days_supply or 0,
                    f.drug.ingredients or (f.drug.display,),
                    f.ref,
                )
                for f in counted
            ],
            ipsd.toordinal(),
            last.toordinal(),
        )
        elapsed = (last - ipsd).days + 1
        if as_of >= end:
            status = "met" if covered >= required else "not-met"
        else:
            status = "on-track" if elapsed - covered <= window - required else "off-track"
        results.append(
            AmmResult(
                patient=records.patient,
                group=GROUP,
                measure=measure,
                status=status,
                period_start=ipsd,
                period_end=end,
                days_covered=covered,
                days_required=required,
                days_in_period=window,
                fills=tuple([f.ref for f in counted]),
                basis=basis,
            )
        )
    return tuple(results)
