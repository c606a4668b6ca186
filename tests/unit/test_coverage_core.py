"""The PDC core `covered_days`: hand-worked cases, and hypothesis against a plain day-set.

Days are plain integers here (covered_days takes ordinals or censored positions alike). Supplies
are (first day, days supply, ingredients, ref). The fast path covers one carry-over chain in date
order; the other cases check that everything else still goes the general way.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge.adherence import coverage
from fhirbridge.adherence.coverage import Supply, covered_days

SER = ("sertraline",)
ESC = ("escitalopram",)
BUP = ("buprenorphine",)
BUP_NAL = ("buprenorphine", "naloxone")  # shares buprenorphine with BUP


def day_set_pdc(supplies: Iterable[Supply], first: int, last: int) -> int:
    """The plain day-set baseline: carry-over in (start, ref) order, then a set of days.

    Supplies of zero days or fewer are dropped first, as covered_days ignores them (the bare
    baseline would still move an ingredient's free day for them).
    """
    free: dict[str, int] = {}
    days: set[int] = set()
    for start, n, ingredients, _ in sorted(
        (s for s in supplies if s[1] > 0), key=lambda s: (s[0], s[3])
    ):
        for ingredient in ingredients:
            start = max(start, free.get(ingredient, start))
        days.update(range(start, start + n))
        for ingredient in ingredients:
            free[ingredient] = start + n
    return len(days.intersection(range(first, last + 1)))


CASES: list[tuple[str, list[Supply], int, int, int]] = [
    # Fast path (one chain, sorted). Early refill: a 0-29; b (day 25) carried to 30-59; c (day
    # 55) carried to 60-89. Sum 90, chain end 90 (exclusive), period 0-69 stops at 70:
    # 90 - (90 - 70) = 70, every day of the period.
    (
        "early refill, overflow",
        [(0, 30, SER, "a"), (25, 30, SER, "b"), (55, 30, SER, "c")],
        0,
        69,
        70,
    ),
    # A gap: 0-29 and 40-69; chain end 70 <= 90, nothing cut: 30 + 30 = 60.
    ("gap", [(0, 30, SER, "a"), (40, 30, SER, "b")], 0, 89, 60),
    # Supply past last: 0-29, 30-59; period 0-44: 60 - (60 - 45) = 45.
    ("past last", [(0, 30, SER, "a"), (30, 30, SER, "b")], 0, 44, 45),
    # Two fills on day 0, refs out of order: 0-29 and 30-59 in either order: 60.
    ("same day", [(0, 30, SER, "b"), (0, 30, SER, "a")], 0, 99, 60),
    # Equal but not identical ingredient tuples are one chain: 0-29, then 30-59: 60.
    (
        "equal tuples",
        [(0, 30, ("sertraline",), "a"), (10, 30, tuple(["sertraline"]), "b")],
        0,
        99,
        60,
    ),
    # Zero and negative days are ignored, whatever their ingredients: 0-29, 40-69: 60.
    (
        "zero days",
        [(0, 30, SER, "a"), (10, 0, ESC, "z"), (20, -5, SER, "n"), (40, 30, SER, "b")],
        0,
        99,
        60,
    ),
    # General path. Unsorted: in (start, ref) order a 0-29; c (day 20, 10 days) carried to
    # 30-39; b 40-69: 70.
    ("unsorted", [(40, 30, SER, "b"), (0, 30, SER, "a"), (20, 10, SER, "c")], 0, 99, 70),
    # A start before first: a covers -10..19, b carried to 20-49; days 0-49 count: 50 (a plain
    # sum would say 60).
    ("before first", [(-10, 30, SER, "a"), (20, 30, SER, "b")], 0, 99, 50),
    # A start after last: a 0-29 counts; b (day 120) lies wholly after day 99: 30.
    ("after last", [(0, 30, SER, "a"), (120, 30, SER, "b")], 0, 99, 30),
    # Two ingredients, no shift between them: 0-29 and 10-39 overlap: union 0-39 = 40.
    ("two drugs", [(0, 30, SER, "a"), (10, 30, ESC, "b")], 0, 99, 40),
    # Combination sharing an ingredient: bup 0-29; bup/nal (day 10) carried to 30-59;
    # escitalopram 50-69 not shifted and overlapping: union 0-69 = 70.
    ("combination", [(0, 30, BUP, "a"), (10, 30, BUP_NAL, "b"), (50, 20, ESC, "c")], 0, 99, 70),
    # No ingredients: carry-over never shifts, 0-29 and 10-39: 40.
    ("no ingredients", [(0, 30, (), "a"), (10, 30, (), "b")], 0, 99, 40),
    ("empty", [], 0, 99, 0),
    ("last before first", [(0, 30, SER, "a")], 10, 5, 0),
]


@pytest.mark.parametrize(
    ("supplies", "first", "last", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_covered_days_worked_examples(
    supplies: list[Supply], first: int, last: int, expected: int
) -> None:
    assert covered_days(supplies, first, last) == expected
    assert covered_days(iter(supplies), first, last) == expected  # any iterable
    assert covered_days(tuple(supplies), first, last) == expected
    assert day_set_pdc(supplies, first, last) == expected


FAST = {"early refill, overflow", "gap", "past last", "same day", "equal tuples", "zero days"}


@pytest.mark.parametrize(
    ("name", "supplies", "first", "last", "expected"), CASES, ids=[case[0] for case in CASES]
)
def test_fast_path_taken_only_for_one_chain_in_date_order(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    supplies: list[Supply],
    first: int,
    last: int,
    expected: int,
) -> None:
    general = coverage._covered_days_merged
    calls: list[int] = []

    def counted(items: Iterable[Supply], first: int, last: int) -> int:
        calls.append(1)
        return general(items, first, last)

    monkeypatch.setattr(coverage, "_covered_days_merged", counted)
    assert covered_days(supplies, first, last) == expected
    assert calls == ([] if name in FAST else [1])


PRODUCTS = (SER, ESC, BUP, BUP_NAL, ())

chain_st = st.lists(
    st.tuples(st.integers(0, 400), st.integers(1, 120), st.sampled_from("abcdefgh")),
    min_size=1,
    max_size=14,
)
supply_st = st.tuples(
    st.integers(-60, 460), st.integers(-5, 120), st.sampled_from(PRODUCTS), st.sampled_from("abcd")
)


@settings(max_examples=400, deadline=None)
@given(
    chain_st, st.sampled_from(PRODUCTS[:4]), st.integers(0, 200), st.randoms(use_true_random=False)
)
def test_single_chain_in_date_order_equals_day_set(
    fills: list[tuple[int, int, str]], product: tuple[str, ...], extra: int, rnd: object
) -> None:
    # As pdc() calls it: sorted by start (equal starts in any ref order), first = the earliest
    # start, last on or after every start. Tuples are equal copies, not one object.
    supplies: list[Supply] = [(s, d, tuple(list(product)), r) for s, d, r in fills]
    rnd.shuffle(supplies)  # type: ignore[attr-defined]
    supplies.sort(key=lambda s: s[0])
    first, last = supplies[0][0], supplies[-1][0] + extra
    assert covered_days(supplies, first, last) == day_set_pdc(supplies, first, last)


@settings(max_examples=400, deadline=None)
@given(chain_st, st.sampled_from(PRODUCTS[:4]), st.integers(-100, 500), st.integers(-100, 500))
def test_single_chain_any_period_equals_day_set(
    fills: list[tuple[int, int, str]], product: tuple[str, ...], first: int, last: int
) -> None:
    supplies: list[Supply] = sorted(((s, d, product, r) for s, d, r in fills), key=lambda s: s[0])
    assert covered_days(supplies, first, last) == day_set_pdc(supplies, first, last)


@settings(max_examples=400, deadline=None)
@given(st.lists(supply_st, max_size=14), st.integers(0, 200))
def test_mixed_supplies_pdc_period_equals_day_set(supplies: list[Supply], extra: int) -> None:
    counted = [s for s in supplies if s[1] > 0]
    if not counted:
        return
    first = min(s[0] for s in counted)
    last = max(s[0] for s in counted) + extra
    assert covered_days(supplies, first, last) == day_set_pdc(supplies, first, last)
    ordered = sorted(supplies, key=lambda s: (s[0], s[3]))
    assert covered_days(ordered, first, last) == day_set_pdc(supplies, first, last)


@settings(max_examples=400, deadline=None)
@given(st.lists(supply_st, max_size=14), st.integers(-100, 500), st.integers(-100, 500))
def test_mixed_supplies_any_period_equals_day_set(
    supplies: list[Supply], first: int, last: int
) -> None:
    expected = day_set_pdc(supplies, first, last)
    assert covered_days(supplies, first, last) == expected
    assert covered_days(iter(supplies), first, last) == expected
    ordered = sorted(supplies, key=lambda s: (s[0], s[3]))
    assert covered_days(ordered, first, last) == expected


# chain_end (refill-overdue): the last covered day of one product's carry-over chain.
@pytest.mark.parametrize(
    ("supplies", "expected"),
    [
        # Day 0 for 30 days covers 0..29; the early refill on day 20 carries to 30..59.
        ([(0, 30, SER, "a"), (20, 30, SER, "b")], (59, "b")),
        # A gap: day 0 for 30 (0..29), day 40 for 30 (40..69).
        ([(40, 30, SER, "b"), (0, 30, SER, "a")], (69, "b")),
        # Same day, refs decide the order; both carried: 10..39 then 40..69, "b" last.
        ([(10, 30, SER, "b"), (10, 30, SER, "a")], (69, "b")),
        # Zero-day supplies are ignored; none left is no chain.
        ([(0, 30, BUP_NAL, "a"), (50, 0, BUP_NAL, "z")], (29, "a")),
        ([(5, 0, SER, "a")], None),
        ([], None),
    ],
)
def test_chain_end_worked_examples(
    supplies: list[Supply], expected: tuple[int, str] | None
) -> None:
    assert coverage.chain_end(supplies) == expected


@given(chain_st, st.sampled_from(PRODUCTS[:4]))
def test_chain_end_is_the_last_end_of_carry_over(
    chain: list[tuple[int, int, str]], product: tuple[str, ...]
) -> None:
    supplies = [(start, days, product, ref) for start, days, ref in chain]
    intervals = coverage.carry_over_days(supplies)
    last = max((i.end for i in intervals), default=None)
    expected = None if last is None else (last, *[i.ref for i in intervals if i.end == last])
    assert coverage.chain_end(supplies) == expected
