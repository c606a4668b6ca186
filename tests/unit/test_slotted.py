"""slotted.py: the fast constructors behave as the dataclass ones they replace."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from datetime import date
from typing import Any

import pytest

from fhirbridge.adherence.amm import AmmResult
from fhirbridge.adherence.continuity import Episode
from fhirbridge.adherence.coverage import Interval
from fhirbridge.adherence.pdc import PdcOutcome, PdcResult
from fhirbridge.adherence.rules import AdherenceOutcome
from fhirbridge.analysis import PatientAnalysis
from fhirbridge.findings import Category, Finding, Severity, finding_key
from fhirbridge.reconciliation.overlaps import Overlap
from fhirbridge.records import (
    ConditionRecord,
    Drug,
    InpatientStay,
    MedicationEvent,
    ObservationRecord,
    PatientRecords,
    Prescriber,
)
from fhirbridge.slotted import direct_init, slot_builder


def _sample_class() -> type:
    """A frozen slotted dataclass with every kind of field direct_init handles."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Sample:
        name: str
        count: int = 3
        tags: list[str] = field(default_factory=list)
        seen: dict[str, int] = field(init=False, default_factory=dict)
        label: str = field(init=False, default="x")
        doubled: int = field(init=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "doubled", self.count * 2)

    return Sample


Sample: Any = direct_init(_sample_class())
Plain: Any = _sample_class()  # the same class with the dataclass's own __init__


def _values(obj: object) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"name": "a"}, {"name": "a", "count": 5}, {"name": "a", "tags": ["t"], "count": 0}],
)
def test_direct_init_sets_what_the_dataclass_init_sets(kwargs: dict[str, object]) -> None:
    assert _values(Sample(**kwargs)) == _values(Plain(**kwargs))


def test_default_factories_make_a_new_value_per_instance() -> None:
    first, second = Sample(name="a"), Sample(name="b")
    assert first.tags == []
    assert first.tags is not second.tags
    assert first.seen == {}
    assert first.seen is not second.seen


@pytest.mark.parametrize(
    "call",
    [
        lambda cls: cls(),
        lambda cls: cls("a"),
        lambda cls: cls(name="a", other=1),
        lambda cls: cls(name="a", seen={}),
    ],
    ids=["missing", "positional", "unknown", "init-false"],
)
def test_wrong_arguments_are_a_type_error_as_with_the_dataclass(call: Any) -> None:
    for cls in (Sample, Plain):
        with pytest.raises(TypeError):
            call(cls)


def test_the_class_stays_frozen() -> None:
    sample = Sample(name="a")
    with pytest.raises(FrozenInstanceError):
        sample.name = "b"


def test_only_frozen_slotted_keyword_only_dataclasses_are_accepted() -> None:
    with pytest.raises(TypeError, match="frozen slotted"):
        direct_init(dataclass(slots=True, kw_only=True)(type("A", (), {"__annotations__": {}})))
    with pytest.raises(TypeError, match="frozen slotted"):
        direct_init(dataclass(frozen=True, kw_only=True)(type("B", (), {"__annotations__": {}})))
    with pytest.raises(TypeError, match="keyword-only"):
        direct_init(
            dataclass(frozen=True, slots=True)(type("C", (), {"__annotations__": {"x": int}}))
        )


DECORATED = [
    Drug,
    MedicationEvent,
    ObservationRecord,
    ConditionRecord,
    InpatientStay,
    Prescriber,
    PatientRecords,
    Finding,
    PdcResult,
    PdcOutcome,
    AmmResult,
    AdherenceOutcome,
    PatientAnalysis,
    Episode,
    Interval,
    Overlap,
]


@pytest.mark.parametrize("cls", DECORATED, ids=lambda c: c.__name__)
def test_decorated_classes_keep_the_dataclass_signature(cls: type) -> None:
    """Every init field a keyword-only parameter with its default; nothing else."""
    assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"
    params = list(inspect.signature(cls).parameters.values())
    expected = [f for f in fields(cls) if f.init]
    assert [p.name for p in params] == [f.name for f in expected]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    for param, f in zip(params, expected, strict=True):
        if f.default is not MISSING:
            assert param.default == f.default
        elif f.default_factory is not MISSING:
            assert param.default is not inspect.Parameter.empty  # the factory's marker
        else:
            assert param.default is inspect.Parameter.empty


def test_finding_normalises_its_refs_and_key_as_before() -> None:
    finding = Finding(
        rule="r",
        category=Category.SAFETY,
        severity=Severity.HIGH,
        patient="Patient/1",
        summary="s",
        detail="d",
        implicated=["MedicationRequest/2", "MedicationRequest/1", "MedicationRequest/2"],
        evidence=[],
        prescribers=["Practitioner/b", "Practitioner/a"],
        authority="a",
        as_of=date(2026, 1, 1),
    )
    assert finding.implicated == ("MedicationRequest/1", "MedicationRequest/2")
    assert finding.evidence == ()
    assert finding.prescribers == ("Practitioner/a", "Practitioner/b")
    # finding_key of rule, patient and the sorted refs (pinned in test_findings.py too).

    assert finding.key == finding_key(
        "r", "Patient/1", ["MedicationRequest/2", "MedicationRequest/1"]
    )


def test_slot_builder_builds_from_values_in_field_order() -> None:
    build = slot_builder(Interval)
    assert build((1, 5, "MedicationDispense/1", ("sertraline",))) == Interval(
        start=1, end=5, ref="MedicationDispense/1", ingredients=("sertraline",)
    )
    with pytest.raises(ValueError, match="not enough values"):
        build((1, 5))
