"""The patient timeline (adherence/timeline.py), worked by hand. as_of = 2025-06-30 (day 0).

Buprenorphine/naloxone: a -60 x28 → -60..-33; b -30 x28; in hospital -20..-11 (10 days), so b
covers -30..-21 before admission and its other 18 days from discharge, -10..7 (shown to day 0).
c on -1 has no days supply and no order: POD's 7 days, imputed; carried after b, it lies past
as_of.
"""

from __future__ import annotations

from datetime import date

from fhirbridge.adherence import build_timeline, resolve_supply
from tests.unit.adherence_builders import (
    BUP_NAL,
    DETECTED,
    NOT_DETECTED,
    day,
    dispense,
    observation,
    order,
    records,
    stay,
)

AS_OF = date(2025, 6, 30)


def d(n: int) -> date:
    return day(n, AS_OF)


PATIENT = records(
    dispense("a", BUP_NAL, d(-60), 28, order="o"),
    dispense("b", BUP_NAL, d(-30), 28, order="o"),
    dispense("c", BUP_NAL, d(-1), None),  # no order to take a days supply from
    order("o", BUP_NAL, d(-60), 28),
    observations=(
        observation("u1", "93494-3", d(-25), concept=NOT_DETECTED),
        observation("u2", "59673-4", d(-25), concept=DETECTED),
        observation("p1", "44261-6", d(-5), number=21),
        observation("p2", "44260-8", d(-5), number=0),
        observation("s1", "93832-4", d(-3), number=330, unit="min"),
        observation("s2", "77860-5", d(-3), number=55),
    ),
    stays=(stay("s", d(-20), d(-11)),),
)


def test_group_coverage_and_gaps_on_the_calendar() -> None:
    timeline = build_timeline(resolve_supply(PATIENT), as_of=AS_OF)
    (moud,) = timeline.groups
    assert (moud.group, moud.basis) == ("moud", "dispense")
    assert moud.covered == ((d(-60), d(-33)), (d(-30), d(-21)), (d(-10), d(0)))
    # Uncovered: -32..-31 only; hospital days are neither covered nor a gap.
    assert moud.gaps == ((d(-32), d(-31)),)
    expected = (
        (d(-60), d(-33), "MedicationDispense/a"),
        (d(-30), d(-21), "MedicationDispense/b"),
        (d(-10), d(0), "MedicationDispense/b"),
    )
    assert moud.by_ingredient == {"buprenorphine": expected, "naloxone": expected}


def test_fills_stays_episodes() -> None:
    timeline = build_timeline(resolve_supply(PATIENT), as_of=AS_OF)
    assert [(f.ref, f.kind, f.days_supply, f.supply_basis, f.imputed) for f in timeline.fills] == [
        ("MedicationDispense/a", "dispense", 28, "daysSupply", False),
        ("MedicationRequest/o", "order", 28, "expectedSupplyDuration", False),
        ("MedicationDispense/b", "dispense", 28, "daysSupply", False),
        ("MedicationDispense/c", "dispense", 7, "pod-default:buprenorphine-oral", True),
    ]
    assert timeline.stays == ((d(-20), d(-11), "Encounter/s"),)
    # One MOUD episode from -60; c ends 7 positions after b: -2..4, i.e. calendar 8..14.
    assert timeline.episodes == ((d(-60), d(14), ()),)


def test_signals() -> None:
    timeline = build_timeline(resolve_supply(PATIENT), as_of=AS_OF)
    assert [(s.ref, s.kind, s.label, s.value, s.warning) for s in timeline.signals] == [
        ("Observation/u1", "uds", "buprenorphine", "negative", False),
        ("Observation/u2", "uds", "fentanyl", "positive", True),
        ("Observation/p1", "phq9-total", "phq9-total", "21", True),  # 20+: severe
        ("Observation/p2", "phq9-item9", "phq9-item9", "0", False),
        ("Observation/s1", "sleep-duration", "sleep-duration", "330", True),  # 5.5 h < 7 h
        ("Observation/s2", "sleep-disturbance", "sleep-disturbance", "55", False),  # < T 60
    ]


def test_json_is_plain_dates_and_refs() -> None:
    data = build_timeline(resolve_supply(PATIENT), as_of=AS_OF).to_json()
    assert set(data) == {
        "patient",
        "as_of",
        "start",
        "groups",
        "fills",
        "stays",
        "episodes",
        "signals",
    }
    assert data["groups"][0]["covered"][0] == ["2025-05-01", "2025-05-28"]
    assert data["stays"] == [["2025-06-10", "2025-06-19", "Encounter/s"]]
