"""Days supply: whole days, the derivation chain across resources, the HEDIS POD defaults.

Chain (adherence/supply.py, clinical-anchors.md 2.4): dispense daysSupply → dispense quantity ÷
daily dose → order expectedSupplyDuration → order quantity ÷ daily dose → POD default (MOUD
only, imputed). Every case is worked by hand in its comment.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest

from fhirbridge.adherence import imputed, pdc, resolve_supply
from fhirbridge.analysis import analyze_patient
from fhirbridge.mappers import MappingContext, load_terminology, to_dispense, to_order
from fhirbridge.mappers.dosage import supply_from_quantity, whole_days
from tests.unit.adherence_builders import (
    BUP,
    BUP_NAL,
    NALTREXONE_XR,
    SERTRALINE,
    dispense,
    order,
    records,
)

CTX = MappingContext(terminology=load_terminology())
AS_OF = date(2025, 3, 31)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (30.0, 30),
        (60 / 7, 8),  # 8.57 days: 8 whole days of doses (round() would say 9)
        (0.5, 1),  # some supply is at least one day (banker's round(0.5) is 0)
        (3.5, 3),  # floor: round(3.5) would give 4
        (29.999999999999996, 30),  # float error from unit arithmetic, not a short day
        (0.0, None),  # zero says nothing: the chain moves on
        (-3.0, None),
        (None, None),
        (math.inf, None),
    ],
)
def test_whole_days(days: float | None, expected: int | None) -> None:
    assert whole_days(days) == expected


def test_supply_from_quantity_needs_both_numbers() -> None:
    # 56 films at 2 a day = 28 days; without a dose, or with a zero quantity: not derivable.
    assert (supply_from_quantity(56, 2), supply_from_quantity(56, None)) == (28, None)
    assert supply_from_quantity(0, 2) is None


def _per_day(count: int) -> list[dict[str, Any]]:
    return [
        {
            "timing": {"repeat": {"frequency": count, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1}}],
        }
    ]


def _dispense(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": "d1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": SERTRALINE},
        "whenHandedOver": "2025-03-01",
    }
    return {**base, **fields}


def _order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "o1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": SERTRALINE},
        "authoredOn": "2025-03-01",
    }
    return {**base, **fields}


ZERO = {"value": 0, "unit": "d", "code": "d"}


@pytest.mark.parametrize(
    ("fields", "supply", "basis"),
    [
        # daysSupply 0 falls through to 60 tablets ÷ 2 a day = 30 days.
        (
            {"daysSupply": ZERO, "quantity": {"value": 60}, "dosageInstruction": _per_day(2)},
            30,
            "quantity/daily-dose",
        ),
        # 60 tablets at 7 a day: floor(8.57) = 8 days (round() gave 9).
        ({"quantity": {"value": 60}, "dosageInstruction": _per_day(7)}, 8, "quantity/daily-dose"),
        # daysSupply 0 and nothing else: no supply, and no basis claimed.
        ({"daysSupply": ZERO}, None, "none"),
    ],
)
def test_dispense_mapper_days(fields: dict[str, Any], supply: int | None, basis: str) -> None:
    event = to_dispense(_dispense(**fields), CTX)
    assert (event.days_supply, event.supply_basis) == (supply, basis)


def test_order_mapper_zero_duration_falls_through_and_reads_refills() -> None:
    # expectedSupplyDuration 0 → quantity 90 ÷ 3 a day = 30 days; 5 refills read as sent.
    request = {"expectedSupplyDuration": ZERO, "quantity": {"value": 90}}
    request["numberOfRepeatsAllowed"] = 5
    event = to_order(_order(dispenseRequest=request, dosageInstruction=_per_day(3)), CTX)
    assert (event.days_supply, event.supply_basis, event.refills) == (30, "quantity/daily-dose", 5)


D = date(2025, 3, 1)
CHAIN = {
    # 56 films dispensed, no dose on the dispense; the order says 2 a day → 28 days.
    "dispense-quantity-order-dose": (
        [
            dispense("a", BUP_NAL, D, None, order="o", quantity=56),
            order("o", BUP_NAL, D, None, daily_dose=2),
        ],
        (28, "quantity/order-daily-dose", False),
    ),
    # No quantity on the dispense: the order's expectedSupplyDuration of 14 days.
    "order-expected-supply": (
        [dispense("a", BUP_NAL, D, None, order="o"), order("o", BUP_NAL, D, 14)],
        (14, "order:expectedSupplyDuration", False),
    ),
    # The order's own quantity ÷ dose (mapped as its days supply, 21 days).
    "order-quantity": (
        [
            dispense("a", BUP_NAL, D, None, order="o"),
            order("o", BUP_NAL, D, 21, basis="quantity/daily-dose"),
        ],
        (21, "order:quantity/daily-dose", False),
    ),
    # Nothing anywhere: HEDIS POD oral buprenorphine default, 7 days, imputed.
    "pod-oral": ([dispense("a", BUP, D, None)], (7, "pod-default:buprenorphine-oral", True)),
    "pod-injection": (
        [dispense("a", "buprenorphine 100 MG in 0.5 ML Prefilled Syringe", D, None)],
        (31, "pod-default:buprenorphine-injection", True),
    ),
    "pod-implant": (
        [dispense("a", "buprenorphine 74.2 MG Drug Implant", D, None)],
        (180, "pod-default:buprenorphine-implant", True),
    ),
    "pod-naltrexone-injection": (
        [dispense("a", NALTREXONE_XR, D, None)],
        (31, "pod-default:naltrexone-injection", True),
    ),
    # POD lists oral naltrexone without a default; a sertraline fill is not MOUD: no guess.
    "no-default-oral-naltrexone": (
        [dispense("a", "Naltrexone Hydrochloride 50 MG Oral Tablet", D, None)],
        (None, "none", False),
    ),
    "no-default-not-moud": ([dispense("a", SERTRALINE, D, None)], (None, "none", False)),
}


@pytest.mark.parametrize(("events", "expected"), CHAIN.values(), ids=CHAIN.keys())
def test_chain(events: list[Any], expected: tuple[int | None, str, bool]) -> None:
    resolved = {e.ref: e for e in resolve_supply(records(*events)).events}
    fill = resolved["MedicationDispense/a"]
    assert (fill.days_supply, fill.supply_basis, fill.imputed) == expected


def test_order_alone_gets_the_pod_default() -> None:
    # An order with no supply information for SL buprenorphine/naloxone: 7 days, imputed.
    resolved = resolve_supply(records(order("o", BUP_NAL, D, None))).events[0]
    assert (resolved.days_supply, resolved.imputed) == (7, True)


def test_records_with_full_supply_are_returned_unchanged() -> None:
    patient = records(dispense("a", SERTRALINE, D, 30), order("o", SERTRALINE, D, 30))
    assert resolve_supply(patient) is patient


def test_imputed_fills_count_in_pdc_and_are_listed() -> None:
    # Buprenorphine SL dispenses on 03-01, 03-08, 03-15 with no days supply anywhere: 7 days each
    # (POD). Covered 03-01..03-21 = 21 days; period 03-01..03-31 = 31 days → 21/31 = 0.6774.
    patient = records(
        dispense("a", BUP, date(2025, 3, 1), None),
        dispense("b", BUP, date(2025, 3, 8), None),
        dispense("c", BUP, date(2025, 3, 15), None),
    )
    analysis = analyze_patient(patient, as_of=AS_OF)
    assert imputed(resolve_supply(patient)) == [
        ("MedicationDispense/a", "pod-default:buprenorphine-oral"),
        ("MedicationDispense/b", "pod-default:buprenorphine-oral"),
        ("MedicationDispense/c", "pod-default:buprenorphine-oral"),
    ]
    assert analysis.imputed == tuple(imputed(resolve_supply(patient)))
    moud = next(a for a in analysis.adherence if a.group == "moud")
    assert (moud.days_covered, moud.days_in_period, moud.value) == (21, 31, 0.6774)
    # Unresolved, the same fills are skipped with a reason and give no PDC.
    outcome = pdc("Patient/p1", "moud", patient.events, as_of=AS_OF)
    assert (outcome.result, outcome.excluded, len(outcome.skipped)) == (None, "too-few-fills", 3)
