"""HEDIS AMM phases (clinical-anchors.md 1.4), worked by hand. as_of = 2025-06-30 (day 0).

IPSD: a fill with no antidepressant fill in the 105 days before. Acute: 84 treated days in
IPSD..IPSD+114; continuation: 180 in IPSD..IPSD+231. Open windows: on-track while the days missed
so far fit the allowance (31 acute, 52 continuation).
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import assess_amm
from fhirbridge.adherence.coverage import START_REF, select_fills
from tests.unit.adherence_builders import ESCITALOPRAM, SERTRALINE, day, dispense, records

AS_OF = date(2025, 6, 30)


def d(n: int) -> date:
    return day(n, AS_OF)


def fills(*spec: tuple[int, int], text: str = SERTRALINE) -> list:
    return [dispense(f"f{i}", text, d(start), days) for i, (start, days) in enumerate(spec)]


CASES = {
    # Fills -200, -170, -140, -110 x30 cover -200..-81. IPSD -200. Acute window -200..-86 has
    # elapsed: 115 of 115 days treated → met. Continuation window -200..31 is open: 201 days
    # elapsed, 120 treated, 81 missed > 52 → off-track (value 120/180 = 0.6667).
    "acute-met-continuation-off-track": (
        fills((-200, 30), (-170, 30), (-140, 30), (-110, 30)),
        [
            ("AMM-acute", "met", 115, 1.0, True),
            ("AMM-continuation", "off-track", 120, 0.6667, None),
        ],
    ),
    # -300, -240, -200 x30 (60 and 40 days apart: one episode). Acute window -300..-186:
    # treated -300..-271 (30), -240..-211 (30) and -200..-186 (15) = 75 < 84 → not met
    # (75/84 = 0.8929). Continuation -300..-69: 90 < 180 → not met (0.5).
    "both-not-met": (
        fills((-300, 30), (-240, 30), (-200, 30)),
        [
            ("AMM-acute", "not-met", 75, 0.8929, False),
            ("AMM-continuation", "not-met", 90, 0.5, False),
        ],
    ),
    # -40 x30 and -10 x30: acute open, 41 days elapsed and all treated → on-track (41/84).
    "on-track": (
        fills((-40, 30), (-10, 30)),
        [
            ("AMM-acute", "on-track", 41, 0.4881, None),
            ("AMM-continuation", "on-track", 41, 0.2278, None),
        ],
    ),
    # -60 x30 only: 61 days elapsed, 30 treated, 31 missed = the acute allowance → on-track.
    "acute-allowance-used-up": (
        fills((-60, 30)),
        [
            ("AMM-acute", "on-track", 30, 0.3571, None),
            ("AMM-continuation", "on-track", 30, 0.1667, None),
        ],
    ),
    # -61 x30: 32 missed > 31 → off-track already, before the window ends.
    "acute-off-track": (
        fills((-61, 30)),
        [
            ("AMM-acute", "off-track", 30, 0.3571, None),
            ("AMM-continuation", "on-track", 30, 0.1667, None),
        ],
    ),
}


@pytest.mark.parametrize(("events", "expected"), CASES.values(), ids=CASES.keys())
def test_phases(events: list, expected: list[tuple[str, str, int, float, bool | None]]) -> None:
    results = assess_amm(records(*events), as_of=AS_OF)
    assert [(r.measure, r.status, r.days_covered, r.value, r.adherent) for r in results] == expected


@pytest.mark.parametrize("events", [c[0] for c in CASES.values()], ids=CASES.keys())
def test_phases_from_fills_the_caller_selected(events: list) -> None:
    """assess_adherence hands AMM the group's fills, selected and sorted once for PDC too."""
    chosen, basis = select_fills(list(reversed(events)))
    chosen.sort(key=START_REF)
    given = assess_amm(records(*events), as_of=AS_OF, fills=(chosen, basis))
    assert given == assess_amm(records(*events), as_of=AS_OF)


def test_new_episode_needs_105_days_without_a_fill() -> None:
    # -330 x30, then -200 x30: 130 days between fills > 105, so -200 starts a new episode and is
    # the one measured. Acute -200..-86 elapsed with 30 treated days → not met.
    results = assess_amm(records(*fills((-330, 30), (-200, 30))), as_of=AS_OF)
    assert {r.period_start for r in results} == {d(-200)}
    assert results[0].status == "not-met"
    # 105 days exactly between fills is not a new episode: the IPSD stays -330.
    results = assess_amm(records(*fills((-330, 30), (-225, 30))), as_of=AS_OF)
    assert {r.period_start for r in results} == {d(-330)}


def test_switch_of_antidepressant_is_still_treatment() -> None:
    # Escitalopram -150 x60 (-150..-91), then sertraline -95 x60 (-95..-36, not shifted: a
    # different ingredient). Acute window -150..-36: all 115 days treated → met.
    events = [
        dispense("a", ESCITALOPRAM, d(-150), 60),
        dispense("b", SERTRALINE, d(-95), 60),
    ]
    acute = assess_amm(records(*events), as_of=AS_OF)[0]
    assert (acute.measure, acute.status, acute.days_covered) == ("AMM-acute", "met", 115)


def test_adherence_line_fields() -> None:
    acute = assess_amm(
        records(*fills((-200, 30), (-170, 30), (-140, 30), (-110, 30))), as_of=AS_OF
    )[0]
    assert acute.to_json() == {
        "patient": "Patient/p1",
        "group": "antidepressant",
        "measure": "AMM-acute",
        "value": 1.0,
        "adherent": True,
        "status": "met",
        "period_start": "2024-12-12",
        "period_end": "2025-04-05",
        "days_covered": 115,
        "days_required": 84,
        "days_in_period": 115,
        "fills": 4,
        "basis": "dispense",
    }


def test_no_antidepressant_no_lines() -> None:
    assert assess_amm(records(), as_of=AS_OF) == ()
