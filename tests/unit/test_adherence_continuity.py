"""MOUD continuity (HEDIS POD) and `moud-gap`, worked by hand.

as_of = 2025-06-30 (day 0); day -n is n days before. The lookback is the 180 days -179..0. A fill
of N days on day d covers d..d+N-1. Same product overlapping: summed (carried over); different
products: separate. A gap is 8 or more consecutive uncovered days.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import assess_moud_gap, episodes
from fhirbridge.findings import Category, Severity
from fhirbridge.mappers import load_terminology
from fhirbridge.records import EventKind, MedicationEvent
from tests.unit.adherence_builders import BUP, BUP_NAL, PATIENT, day, dispense, records, stay

AS_OF = date(2025, 6, 30)


def d(n: int) -> date:
    return day(n, AS_OF)


def fills(*spec: tuple[str, str, int, int]) -> list[MedicationEvent]:
    return [dispense(ref, text, d(start), days) for ref, text, start, days in spec]


CASES = {
    # 28-day fills every 28 days from -195: the last (-27) covers -27..0. No gap.
    "continuous": (
        fills(*((f"f{i}", BUP_NAL, -195 + 28 * i, 28) for i in range(7))),
        (),
        [],
    ),
    # -60 x28 → -60..-33; -25 x28 → -25..2. Uncovered -32..-26 = 7 days: allowed.
    "gap-of-7-allowed": (fills(("a", BUP_NAL, -60, 28), ("b", BUP_NAL, -25, 28)), (), []),
    # -60 x28 → -60..-33; -24 x28 → -24..3. Uncovered -32..-25 = 8 days: a gap.
    "gap-of-8": (
        fills(("a", BUP_NAL, -60, 28), ("b", BUP_NAL, -24, 28)),
        (),
        [(d(-32), d(-25), 8)],
    ),
    # Early refill of the same product is summed: -40 x28 → -40..-13; -35 x28 carried to
    # -12..15. No gap (without the carry-over: -35..-8, then -7..0 uncovered, still < 8).
    "early-refill-summed": (fills(("a", BUP_NAL, -40, 28), ("b", BUP_NAL, -35, 28)), (), []),
    # Switch from buprenorphine to buprenorphine/naloxone: different POD rows, not shifted.
    # -60 x28 → -60..-33; -40 x28 → -40..-13; uncovered -12..0 = 13 days, still open. (Shifted
    # wrongly, the second fill would run -32..-5 and leave 5 days: no finding.)
    "switch-not-shifted": (
        fills(("a", BUP, -60, 28), ("b", BUP_NAL, -40, 28)),
        (),
        [(d(-12), d(0), 13)],
    ),
    # -30 x14 → -30..-17; nothing since: -16..0 = 17 days, still open.
    "open-gap-at-as-of": (
        fills(("a", BUP_NAL, -44, 14), ("b", BUP_NAL, -30, 14)),
        (),
        [(d(-16), d(0), 17)],
    ),
    # Treatment started on day -20: the days before it are not a gap. -20 x14 → -20..-7;
    # -6 x7 → -6..0. Continuous.
    "started-recently": (fills(("a", BUP_NAL, -20, 14), ("b", BUP_NAL, -6, 7)), (), []),
    # Last MOUD long before the lookback: not in treatment, no finding (oud-untreated's job).
    "stopped-long-ago": (fills(("a", BUP_NAL, -300, 28), ("b", BUP_NAL, -272, 28)), (), []),
    # In hospital -20..-11 (10 days). -40 x28: -40..-21 before admission (20 days), the other
    # 8 days after discharge: -10..-3. Uncovered -2..0 = 3 days: no gap. (Counting hospital
    # days as uncovered it would be -12..0 = 13 days.)
    "inpatient-stay-censored": (
        fills(("a", BUP_NAL, -68, 28), ("b", BUP_NAL, -40, 28)),
        (stay("s", d(-20), d(-11)),),
        [],
    ),
    # Two gaps in the lookback: -150 x28 → -150..-123; -110 x28 → -110..-83; -70 x80 → -70..9.
    # Uncovered -122..-111 (12) and -82..-71 (12).
    "two-gaps": (
        fills(("a", BUP_NAL, -150, 28), ("b", BUP_NAL, -110, 28), ("c", BUP_NAL, -70, 80)),
        (),
        [(d(-122), d(-111), 12), (d(-82), d(-71), 12)],
    ),
}


@pytest.mark.parametrize(("events", "stays", "expected"), CASES.values(), ids=CASES.keys())
def test_moud_gap(
    events: list[MedicationEvent], stays: tuple, expected: list[tuple[date, date, int]]
) -> None:
    findings = assess_moud_gap(records(*events, stays=stays), as_of=AS_OF)
    if not expected:
        assert findings == []
        return
    (finding,) = findings
    assert (finding.rule, finding.category, finding.severity) == (
        "moud-gap",
        Category.ADHERENCE,
        Severity.HIGH,
    )
    longest = max(n for _, _, n in expected)
    assert finding.summary == (
        f"MOUD coverage gap of {longest} days in the last 180 days"
        f" ({len(expected)} gap(s) of 8+ days)"
    )
    for first, last, n in expected:
        assert f"{first.isoformat()} to {last.isoformat()} ({n} days" in finding.detail


def test_implicates_the_orders_behind_the_fills() -> None:
    events = [
        dispense("a", BUP_NAL, d(-60), 28, order="o1"),
        dispense("b", BUP_NAL, d(-24), 28, order="o1"),
    ]
    (finding,) = assess_moud_gap(records(*events), as_of=AS_OF)
    assert finding.implicated == ("MedicationRequest/o1",)


def _methadone(ref: str, start: date, days: int, *, configured: bool) -> MedicationEvent:
    terminology = load_terminology(moud_includes_methadone=configured)
    return MedicationEvent(
        ref=f"MedicationRequest/{ref}",
        kind=EventKind.ORDER,
        patient=PATIENT,
        drug=terminology.classify({"text": "Methadone Hydrochloride 10 MG Oral Tablet"}),
        status="active",
        start=start,
        days_supply=days,
        supply_basis="expectedSupplyDuration",
    )


@pytest.mark.parametrize(("configured", "found"), [(False, 0), (True, 1)])
def test_methadone_only_when_configured(configured: bool, found: int) -> None:
    # Methadone orders -90 x30 (-90..-61) and -40 x30 (-40..-11): gaps -60..-41 (20) and
    # -10..0 (11). They count only with moud_includes_methadone (opioid treatment program
    # dosing is usually outside the EHR, ARCHITECTURE.md).
    events = [
        _methadone("m1", d(-90), 30, configured=configured),
        _methadone("m2", d(-40), 30, configured=configured),
    ]
    assert len(assess_moud_gap(records(*events), as_of=AS_OF)) == found


def test_episodes_split_on_31_days_without_moud() -> None:
    # -200 x28 → -200..-173; 40 days without (-172..-133) start a new episode (POD: no MOUD in
    # the 31 days before). -132 x28 → -132..-105; -94 x28 → -94..-67, after a 10-day gap.
    events = fills(("a", BUP_NAL, -200, 28), ("b", BUP_NAL, -132, 28), ("c", BUP_NAL, -94, 28))
    found = episodes(records(*events), as_of=AS_OF)
    assert [(e.start, e.end, e.gaps) for e in found] == [
        (d(-200), d(-173), ()),
        (d(-132), d(-67), ((d(-104), d(-95)),)),
    ]
