"""Inpatient censoring of PDC (CMS Star technical notes via clinical-anchors.md 1.1) and the
PQA minimum period, worked by hand. as_of = 2025-03-31 throughout."""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import Censor, pdc
from tests.unit.adherence_builders import ESCITALOPRAM, SERTRALINE, dispense, stay

AS_OF = date(2025, 3, 31)
JAN = {d: date(2025, 1, d) for d in range(1, 32)}


def o(d: date) -> int:
    return d.toordinal()


def test_censor_positions_and_calendar() -> None:
    # One stay Jan 11..20 (10 days). Days before it keep their number; the first day after it
    # (Jan 21) takes the position of Jan 11; a day inside it starts after discharge.
    censor = Censor.of([stay("s", JAN[11], JAN[20])], AS_OF)
    assert censor.position(o(JAN[10])) == o(JAN[10])
    assert censor.position(o(JAN[15])) == o(JAN[11])  # supply handed over in hospital
    assert censor.position(o(JAN[21])) == o(JAN[11])
    assert censor.last(o(JAN[15])) == o(JAN[10])  # a period ending in hospital ends before it
    assert censor.censored(o(JAN[1]), o(AS_OF)) == 10
    # Positions Jan 1..Jan 30 on the calendar: Jan 1..10, then Jan 21..Feb 9 (20 days).
    assert censor.calendar(o(JAN[1]), o(JAN[30])) == [
        (o(JAN[1]), o(JAN[10])),
        (o(JAN[21]), o(date(2025, 2, 9))),
    ]


def test_adjacent_and_overlapping_stays_merge_and_open_stays_end_at_as_of() -> None:
    censor = Censor.of(
        [
            stay("a", JAN[5], JAN[7]),
            stay("b", JAN[8], JAN[9]),  # adjacent: one stay Jan 5..9
            stay("c", date(2025, 3, 30), None),  # in progress: censored through as_of
            stay("d", date(2025, 4, 2), date(2025, 4, 5)),  # after as_of: ignored
        ],
        AS_OF,
    )
    assert (censor.starts, censor.ends) == (
        (o(JAN[5]), o(date(2025, 3, 30))),
        (o(JAN[9]), o(AS_OF)),
    )


CASES = [
    pytest.param(
        # Sertraline a 01-01 x30, b 01-31 x30; stay 01-11..01-20 (10 days).
        # a: 01-01..01-10 before admission; its other 20 days resume after discharge:
        #    01-21..02-09. b (01-31) is carried after a: 02-10..03-11 (the chain of shifting).
        # Period 01-01..03-31 = 90 days - 10 in hospital = 80; covered 10 + 20 + 30 = 60.
        # PDC 60/80 = 0.75 (without censoring: 60/90 = 0.6667).
        [("a", JAN[1], 30), ("b", JAN[31], 30)],
        [("s", JAN[11], JAN[20])],
        (0.75, 60, 80, 10),
        id="supply-on-hand-shifts-past-discharge-and-chains",
    ),
    pytest.param(
        # A stay before the index date changes nothing: 02-01 x28 → 02-01..02-28, 03-05 x20 →
        # 03-05..03-24; stay 01-05..01-09. Period 02-01..03-31 = 28 + 31 = 59 days; covered
        # 28 + 20 = 48 → 48/59 = 0.8136.
        [("a", date(2025, 2, 1), 28), ("b", date(2025, 3, 5), 20)],
        [("s", JAN[5], JAN[9])],
        (0.8136, 48, 59, 0),
        id="stay-before-index",
    ),
    pytest.param(
        # Filled while in hospital (01-15, stay 01-11..01-20): supply starts after discharge.
        # a 01-01 x10 → 01-01..01-10; b 01-15 x30 → 01-21..02-19. Period 90 - 10 = 80 days;
        # covered 10 + 30 = 40 → 0.5.
        [("a", JAN[1], 10), ("b", JAN[15], 30)],
        [("s", JAN[11], JAN[20])],
        (0.5, 40, 80, 10),
        id="fill-during-stay-starts-after-discharge",
    ),
    pytest.param(
        # A stay still under way on as_of (from 03-22): censored 03-22..03-31 (10 days).
        # a 01-01 x60 → 01-01..03-01; b 03-02 x30 → 03-02..03-21 before admission (20 days),
        # the rest after as_of. Period 90 - 10 = 80; covered 60 + 20 = 80 → 1.0.
        [("a", JAN[1], 60), ("b", date(2025, 3, 2), 30)],
        [("s", date(2025, 3, 22), None)],
        (1.0, 80, 80, 10),
        id="open-stay-censored-through-as-of",
    ),
]


@pytest.mark.parametrize(("fills", "stays", "expected"), CASES)
def test_pdc_with_inpatient_stays(
    fills: list[tuple[str, date, int]],
    stays: list[tuple[str, date, date | None]],
    expected: tuple[float, int, int, int],
) -> None:
    events = [dispense(ref, SERTRALINE, start, days) for ref, start, days in fills]
    result = pdc(
        "Patient/p1",
        "antidepressant",
        events,
        as_of=AS_OF,
        stays=[stay(*s) for s in stays],
    ).result
    assert result is not None
    assert (result.value, result.days_covered, result.days_in_period, result.censored_days) == (
        expected
    )
    assert "censored_days" not in result.to_json()  # adherence.ndjson keeps the contract's fields


def test_stay_shifts_each_ingredient_without_crossing() -> None:
    # Two ingredients: escitalopram 01-01 x20 and sertraline 01-15 x30; stay 01-11..01-20.
    # Escitalopram: 01-01..01-10, then its 10 remaining days 01-21..01-30.
    # Sertraline (handed over in hospital): from discharge, 01-21..02-19; not shifted behind
    # escitalopram (different ingredient), so both cover 01-21..01-30 and it counts once.
    # Covered 10 + 30 = 40 of 80 → 0.5.
    events = [dispense("a", ESCITALOPRAM, JAN[1], 20), dispense("b", SERTRALINE, JAN[15], 30)]
    result = pdc(
        "Patient/p1", "antidepressant", events, as_of=AS_OF, stays=[stay("s", JAN[11], JAN[20])]
    ).result
    assert result is not None
    assert (result.days_covered, result.days_in_period) == (40, 80)


def test_period_spent_in_hospital_gives_no_result() -> None:
    # Fills 03-20 and 03-25; in hospital 03-20..03-31: no day of the period is left.
    events = [
        dispense("a", SERTRALINE, date(2025, 3, 20), 5),
        dispense("b", SERTRALINE, date(2025, 3, 25), 5),
    ]
    outcome = pdc(
        "Patient/p1",
        "antidepressant",
        events,
        as_of=AS_OF,
        stays=[stay("s", date(2025, 3, 20), None)],
    )
    assert (outcome.result, outcome.excluded) == (None, "period-censored")


@pytest.mark.parametrize(
    ("first_fill", "min_days", "reported"),
    [
        # PQA: the index date at least 91 days before the period end. 2024-12-30 is 91 days
        # before 2025-03-31 (Dec 30 → Dec 31 is 1, + 90 days of Jan-Mar): reported.
        (date(2024, 12, 30), 91, True),
        # 2024-12-31 is 90 days before: below the minimum, not reported.
        (date(2024, 12, 31), 91, False),
        # The default 0 reports it (the example data has 90-day periods).
        (date(2024, 12, 31), 0, True),
    ],
)
def test_minimum_period(first_fill: date, min_days: int, reported: bool) -> None:
    events = [
        dispense("a", SERTRALINE, first_fill, 30),
        dispense("b", SERTRALINE, date(2025, 2, 1), 30),
    ]
    outcome = pdc("Patient/p1", "antidepressant", events, as_of=AS_OF, min_period_days=min_days)
    assert (outcome.result is not None) is reported
    assert outcome.excluded == (None if reported else "period-too-short")
