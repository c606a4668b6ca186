"""stage_transfer.py: what a worker packs, pickled and rebuilt, equals what it analyzed."""

from __future__ import annotations

import pickle
from datetime import date

import pytest

from fhirbridge.adherence.amm import AmmResult
from fhirbridge.adherence.pdc import PdcResult
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.stage_transfer import SEPARATOR, joined, pack, unpack

AS_OF = date(2026, 6, 30)


def _pdc(fills: tuple[str, ...], start: date = date(2025, 7, 8)) -> PdcResult:
    return PdcResult(
        patient="Patient/p1",
        group="antidepressant",
        value=0.7542,
        adherent=False,
        period_start=start,
        period_end=AS_OF,
        days_covered=270,
        days_in_period=358,
        fills=fills,
        basis="dispense",
        censored_days=3,
    )


AMM = AmmResult(
    patient="Patient/p1",
    group="antidepressant",
    measure="AMM-acute",
    status="met",
    period_start=date(2025, 7, 15),
    period_end=date(2025, 11, 6),
    days_covered=115,
    days_required=84,
    days_in_period=115,
    fills=("MedicationDispense/d1", "MedicationDispense/d2"),
    basis="order",
)
FINDING = Finding(
    rule="refill-overdue",
    category=Category.ADHERENCE,
    severity=Severity.HIGH,
    patient="Patient/p1",
    summary="MOUD refill overdue",
    detail="**detail**",
    implicated=("MedicationRequest/o1",),
    prescribers=("Practitioner/a",),
    authority="CONTRACT.md",
    as_of=AS_OF,
)


@pytest.mark.parametrize(
    "values",
    [
        [_pdc(("MedicationDispense/d1", "MedicationDispense/d2", "MedicationDispense/d3"))],
        [_pdc(("MedicationDispense/d1",))],
        [_pdc(())],
        [_pdc((f"MedicationDispense/odd{SEPARATOR}id", "MedicationDispense/d2"))],
        [FINDING, AMM, _pdc(("MedicationRequest/o1", "MedicationRequest/o2")), FINDING],
        [_pdc(("a", "b"), start=date(2024, 1, 1)), _pdc(("a", "b"), start=date(2024, 1, 2))],
    ],
    ids=["three-fills", "one-fill", "no-fills", "separator-in-ref", "mixed", "dates-differ"],
)
def test_packed_pickled_and_rebuilt_equals_the_original(values: list[object]) -> None:
    travelled = unpack(pickle.loads(pickle.dumps(pack(values), protocol=pickle.HIGHEST_PROTOCOL)))
    assert travelled == values
    assert [type(v) for v in travelled] == [type(v) for v in values]
    for before, after in zip(values, travelled, strict=True):
        if isinstance(before, PdcResult | AmmResult):
            assert isinstance(after.fills, tuple)
            assert isinstance(after.period_start, date)


def test_measures_travel_with_ordinals_and_joined_refs() -> None:
    ((cls, fields),) = pack([AMM])
    assert cls is AmmResult
    assert fields[4:6] == (date(2025, 7, 15).toordinal(), date(2025, 11, 6).toordinal())
    assert fields[9] == "MedicationDispense/d1\x1fMedicationDispense/d2"


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        (("a", "b"), "a\x1fb"),
        (("a",), "a"),
        ((), ()),
        (("a\x1fb", "c"), ("a\x1fb", "c")),
    ],
)
def test_joined(refs: tuple[str, ...], expected: object) -> None:
    assert joined(refs) == expected
