"""PDC worked by hand (CONTRACT.md "PDC as computed"; PQA method). Arithmetic in the comments.

All cases use as_of = 2025-03-31 and the 365-day window 2024-04-01 .. 2025-03-31.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import pdc
from fhirbridge.records import EventKind
from tests.unit.factories import fill

AS_OF = date(2025, 3, 31)
SERTRALINE = "Sertraline 50 MG Oral Tablet"
ESCITALOPRAM = "Escitalopram 10 MG Oral Tablet"
BUP = "Buprenorphine 8 MG Sublingual Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"

CASES = [
    pytest.param(
        # Two 30-day fills, back to back. Index 2025-01-01; period 01-01..03-31 = 90 days.
        # Covered 01-01..01-30 (30) + 01-31..03-01 (30) = 60. PDC 60/90 = 0.6667.
        [("a", SERTRALINE, date(2025, 1, 1), 30), ("b", SERTRALINE, date(2025, 1, 31), 30)],
        (0.6667, 60, 90, date(2025, 1, 1)),
        id="two-fills-back-to-back",
    ),
    pytest.param(
        # Early refill, same ingredient: carry-over. Fill a 01-01 x30 covers 01-01..01-30.
        # Fill b on 01-21 x30 would overlap 10 days; it is shifted to start 01-31 → 01-31..03-01.
        # Covered 60 of 90 → 0.6667. Without carry-over it would be 01-01..02-19 = 50 → 0.5556.
        [("a", SERTRALINE, date(2025, 1, 1), 30), ("b", SERTRALINE, date(2025, 1, 21), 30)],
        (0.6667, 60, 90, date(2025, 1, 1)),
        id="carry-over-same-ingredient",
    ),
    pytest.param(
        # Combination product sharing an ingredient (PQA: single product to combination).
        # Buprenorphine 01-01 x30 → 01-01..01-30; buprenorphine/naloxone on 01-16 x30 shares
        # buprenorphine, so it starts 01-31 → 01-31..03-01. Covered 60; period 01-01..03-31 = 90.
        [("a", BUP, date(2025, 1, 1), 30), ("b", BUP_NAL, date(2025, 1, 16), 30)],
        (0.6667, 60, 90, date(2025, 1, 1)),
        id="combination-shares-ingredient",
    ),
    pytest.param(
        # Two ingredients in one group overlap: no shift (switch of drug). Escitalopram 01-01 x30
        # → 01-01..01-30; sertraline 01-21 x30 → 01-21..02-19 unshifted. Union 01-01..02-19 = 50
        # days (the 10 overlapping days count once). Period 90 → 50/90 = 0.5556.
        [("a", ESCITALOPRAM, date(2025, 1, 1), 30), ("b", SERTRALINE, date(2025, 1, 21), 30)],
        (0.5556, 50, 90, date(2025, 1, 1)),
        id="two-ingredients-no-shift",
    ),
    pytest.param(
        # Supply past as_of is cut off. 03-01 x30 and 03-21 x30: b shifted to start 03-31, so
        # covered 03-01..03-30 (30) + 03-31 (1) = 31 of period 03-01..03-31 (31 days) → 1.0.
        [("a", SERTRALINE, date(2025, 3, 1), 30), ("b", SERTRALINE, date(2025, 3, 21), 30)],
        (1.0, 31, 31, date(2025, 3, 1)),
        id="supply-past-as-of-cut",
    ),
    pytest.param(
        # A fill before the window does not count (index = first fill IN the window, 2024-04-01
        # .. ). Fill x on 2024-03-15 x90 is ignored. Fills 2024-10-02 x30 and 2025-01-01 x30:
        # period 2024-10-02..2025-03-31 = 30 (Oct 2..31) + 30 + 31 + 31 + 28 + 31 = 181 days.
        # Covered 30 + 30 = 60 → 60/181 = 0.3315.
        [
            ("x", SERTRALINE, date(2024, 3, 15), 90),
            ("a", SERTRALINE, date(2024, 10, 2), 30),
            ("b", SERTRALINE, date(2025, 1, 1), 30),
        ],
        (0.3315, 60, 181, date(2024, 10, 2)),
        id="fill-before-window-ignored",
    ),
]


@pytest.mark.parametrize(("fills", "expected"), CASES)
def test_pdc_hand_worked(
    fills: list[tuple[str, str, date, int]], expected: tuple[float, int, int, date]
) -> None:
    events = [fill(ref, text, start, days) for ref, text, start, days in fills]
    result = pdc("Patient/p1", "x", events, as_of=AS_OF).result
    assert result is not None
    value, covered, days, index = expected
    assert (result.value, result.days_covered, result.days_in_period, result.period_start) == (
        value,
        covered,
        days,
        index,
    )
    assert result.adherent is (value >= 0.80)


def test_one_fill_only_gives_no_pdc() -> None:
    # PQA denominator: at least two fills on different dates. One fill → no result.
    outcome = pdc(
        "Patient/p1", "antidepressant", [fill("a", SERTRALINE, date(2025, 1, 1), 30)], as_of=AS_OF
    )
    assert outcome.result is None
    assert outcome.skipped == ()


def test_two_fills_same_day_count_as_one_date() -> None:
    same_day = [
        fill("a", SERTRALINE, date(2025, 1, 1), 30),
        fill("b", SERTRALINE, date(2025, 1, 1), 30),
    ]
    assert pdc("Patient/p1", "antidepressant", same_day, as_of=AS_OF).result is None


def test_fill_without_days_supply_is_skipped_with_reason() -> None:
    # b has no derivable days supply: skipped with a reason, never guessed. a and c remain:
    # a 01-01 x30 → 01-01..01-30, c 03-01 x30 → 03-01..03-30 (not shifted, no overlap).
    # Period 01-01..03-31 = 90; covered 60 → 0.6667.
    events = [
        fill("a", SERTRALINE, date(2025, 1, 1), 30),
        fill("b", SERTRALINE, date(2025, 2, 1), None),
        fill("c", SERTRALINE, date(2025, 3, 1), 30),
    ]
    outcome = pdc("Patient/p1", "antidepressant", events, as_of=AS_OF)
    assert outcome.skipped == (("MedicationDispense/b", "no-days-supply"),)
    assert outcome.result is not None
    assert (outcome.result.value, outcome.result.days_covered, outcome.result.fills) == (
        0.6667,
        60,
        ("MedicationDispense/a", "MedicationDispense/c"),
    )


def test_dispenses_win_over_orders_and_basis_is_reported() -> None:
    # With any dispense in the group, orders are not fills. Orders alone: basis "order".
    order = fill("o1", SERTRALINE, date(2025, 1, 1), 90, kind=EventKind.ORDER)
    order2 = fill("o2", SERTRALINE, date(2025, 2, 1), 90, kind=EventKind.ORDER)
    dispenses = [
        fill("a", SERTRALINE, date(2025, 1, 1), 30),
        fill("b", SERTRALINE, date(2025, 3, 1), 30),
    ]
    with_dispenses = pdc(
        "Patient/p1", "antidepressant", [order, order2, *dispenses], as_of=AS_OF
    ).result
    assert with_dispenses is not None
    assert (with_dispenses.basis, with_dispenses.days_covered) == ("dispense", 60)
    # Orders only: o1 01-01 x90 → 01-01..03-31; o2 02-01 x90 carried to 04-01 (past as_of).
    # Covered 90 of 90 → 1.0.
    orders_only = pdc("Patient/p1", "antidepressant", [order, order2], as_of=AS_OF).result
    assert orders_only is not None
    assert (orders_only.basis, orders_only.value, orders_only.days_covered) == ("order", 1.0, 90)


def test_threshold_compares_the_rounded_value() -> None:
    # Covered 72 of 90 = 0.8 exactly → adherent at the 0.80 threshold.
    events = [
        fill("a", SERTRALINE, date(2025, 1, 1), 42),
        fill("b", SERTRALINE, date(2025, 2, 12), 30),
    ]
    result = pdc("Patient/p1", "antidepressant", events, as_of=AS_OF).result
    assert result is not None
    assert (result.days_covered, result.value, result.adherent) == (72, 0.8, True)
