"""`refill-overdue`, worked by hand. as_of = 2025-06-30 (day 0); a fill of N days on day d covers
d..d+N-1, so "days without supply" through as_of = 0 - (last covered day). Grace: 7 days, MOUD 3.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import assess_refill_overdue
from fhirbridge.adherence.params import RefillParams
from fhirbridge.findings import Severity
from fhirbridge.records import EventKind, MedicationEvent
from tests.unit.adherence_builders import (
    BUP_NAL,
    ESCITALOPRAM,
    SERTRALINE,
    day,
    dispense,
    order,
    records,
)

AS_OF = date(2025, 6, 30)


def d(n: int) -> date:
    return day(n, AS_OF)


CASES = {
    # -31 x28 → last covered -4; days -3..0 without supply = 4 > 3 (MOUD grace): overdue.
    "moud-4-days": (
        [dispense("a", BUP_NAL, d(-31), 28, order="o"), order("o", BUP_NAL, d(-59), 28)],
        ("MOUD refill overdue: no supply since 2025-06-27 (4 days)", Severity.HIGH),
    ),
    # -30 x28 → last covered -3: 3 days, within the grace.
    "moud-3-days": (
        [dispense("a", BUP_NAL, d(-30), 28, order="o"), order("o", BUP_NAL, d(-58), 28)],
        None,
    ),
    # Sertraline -37 x30 → last covered -8: 8 days > 7: overdue, moderate.
    "antidepressant-8-days": (
        [dispense("a", SERTRALINE, d(-37), 30, order="o"), order("o", SERTRALINE, d(-37), 30)],
        ("Antidepressant refill overdue: no supply since 2025-06-23 (8 days)", Severity.MODERATE),
    ),
    # -36 x30 → last covered -7: 7 days, within the grace.
    "antidepressant-7-days": (
        [dispense("a", SERTRALINE, d(-36), 30, order="o"), order("o", SERTRALINE, d(-36), 30)],
        None,
    ),
    # The order was completed: a therapy that ended, not a missed refill.
    "order-completed": (
        [
            dispense("a", SERTRALINE, d(-60), 30, order="o"),
            order("o", SERTRALINE, d(-60), 30, status="completed"),
        ],
        None,
    ),
    # A later fill (-20 x30 → covers to 9): nothing is overdue.
    "later-fill": (
        [
            dispense("a", SERTRALINE, d(-60), 30, order="o"),
            dispense("b", SERTRALINE, d(-20), 30, order="o"),
            order("o", SERTRALINE, d(-60), 30),
        ],
        None,
    ),
    # Switch inside the group: escitalopram last covered -71 with its order still active, but
    # sertraline covers as_of: the group is supplied.
    "switch-in-group": (
        [
            dispense("a", ESCITALOPRAM, d(-100), 30, order="o1"),
            order("o1", ESCITALOPRAM, d(-100), 30),
            dispense("b", SERTRALINE, d(-10), 30, order="o2"),
            order("o2", SERTRALINE, d(-10), 30, status="completed"),
        ],
        None,
    ),
    # Orders only: 30 days with 2 refills may all have been picked up unseen: authorized
    # through -100 + 90 - 1 = -11. Days -10..0 = 11 > 7: the authorization ran out.
    "orders-refills-ran-out": (
        [order("o", SERTRALINE, d(-100), 30, refills=2)],
        ("Antidepressant refill overdue: no supply since 2025-06-20 (11 days)", Severity.MODERATE),
    ),
    # With 3 refills: through -100 + 120 - 1 = 19, past as_of.
    "orders-refills-left": ([order("o", SERTRALINE, d(-100), 30, refills=3)], None),
    # Supply that ended 400 days ago with a stale active order: a stopped therapy.
    "too-long-ago": (
        [dispense("a", SERTRALINE, d(-430), 30, order="o"), order("o", SERTRALINE, d(-430), 30)],
        None,
    ),
}


@pytest.mark.parametrize(("events", "expected"), CASES.values(), ids=CASES.keys())
def test_refill_overdue(
    events: list[MedicationEvent], expected: tuple[str, Severity] | None
) -> None:
    findings = assess_refill_overdue(records(*events), as_of=AS_OF)
    if expected is None:
        assert findings == []
        return
    (finding,) = findings
    assert (finding.summary, finding.severity) == expected
    assert finding.implicated == ("MedicationRequest/o",)  # the active order
    assert finding.prescribers == ("Practitioner/pr1",)


def test_grace_is_configurable_per_group() -> None:
    # The 8-day antidepressant lapse above is within a 10-day grace for antidepressants.
    events = [dispense("a", SERTRALINE, d(-37), 30, order="o"), order("o", SERTRALINE, d(-37), 30)]
    params = RefillParams(grace_days_by_group={"moud": 3, "antidepressant": 10})
    assert assess_refill_overdue(records(*events), as_of=AS_OF, params=params) == []


def test_reported_use_is_not_supply() -> None:
    # A MedicationStatement (patient says they take it) is not a fill and cannot be overdue.
    statement = MedicationEvent(
        ref="MedicationStatement/s",
        kind=EventKind.STATEMENT,
        patient="Patient/p1",
        drug=order("x", SERTRALINE, d(-90), None).drug,
        status="active",
        start=d(-90),
        days_supply=None,
        supply_basis="none",
    )
    assert assess_refill_overdue(records(statement), as_of=AS_OF) == []
