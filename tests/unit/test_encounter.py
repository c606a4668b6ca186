"""Encounter → InpatientStay (mappers/encounter.py): which encounters are inpatient stays."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers import to_inpatient_stay

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def encounter(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": ACT, "code": "IMP"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2025-01-11T22:10:00-05:00", "end": "2025-01-20T10:00:00-05:00"},
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


@pytest.mark.parametrize(
    ("fields", "end"),
    [
        ({}, date(2025, 1, 20)),  # IMP, finished: admission through discharge as written
        ({"class": {"system": ACT, "code": "ACUTE"}}, date(2025, 1, 20)),  # IMP's children
        ({"class": {"system": ACT, "code": "NONAC"}}, date(2025, 1, 20)),
        ({"class": {"system": "http://hl7.org/fhir/v3/ActCode", "code": "IMP"}}, date(2025, 1, 20)),
        # R5 shape: a list of CodeableConcepts.
        ({"class": [{"coding": [{"system": ACT, "code": "IMP"}]}]}, date(2025, 1, 20)),
        # Still in hospital: no discharge day yet.
        ({"status": "in-progress", "period": {"start": "2025-01-11"}}, None),
    ],
)
def test_inpatient_stays(fields: dict[str, Any], end: date | None) -> None:
    stay = to_inpatient_stay(encounter(**fields))
    assert (stay.ref, stay.patient, stay.start, stay.end) == (
        "Encounter/e1",
        "Patient/p1",
        date(2025, 1, 11),  # 22:10 at -05:00 is still the 11th for the patient
        end,
    )


@pytest.mark.parametrize(
    ("fields", "error", "reason"),
    [
        ({"class": {"system": ACT, "code": "AMB"}}, NotApplicable, "class: AMB"),
        ({"class": {"system": ACT, "code": "EMER"}}, NotApplicable, "class: EMER"),
        ({"class": {"system": "urn:local", "code": "IMP"}}, NotApplicable, "class: none"),
        ({"status": "cancelled"}, NotApplicable, "status: cancelled"),
        ({"period": {"start": "2025-01-11"}}, NotApplicable, "period.end: no discharge date"),
        ({"subject": None}, MappingError, "subject: no Patient reference"),
        ({"period": {"end": "2025-01-20"}}, MappingError, "period.start: no admission date"),
        (
            {"period": {"start": "2025-01-20", "end": "2025-01-11"}},
            MappingError,
            "period.end: discharge before admission",
        ),
    ],
)
def test_not_stays(fields: dict[str, Any], error: type[MappingError], reason: str) -> None:
    with pytest.raises(error) as info:
        to_inpatient_stay(encounter(**fields))
    assert type(info.value) is error
    assert str(info.value).startswith(reason)
