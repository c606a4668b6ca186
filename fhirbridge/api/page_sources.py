"""Entrypoint: where the patient page's resources come from in demo mode, and the mapping
context (Medications, prescribers) for any source.

Demo mode shows only the bundled CONSTRUCTED example patients (identifier system
`urn:fhirbridge:example`), never anyone else in the store: it needs no login. It reads them
from the store when `fhirbridge run` has loaded the example data, else from the bundled files,
moved to today as the CLI would (examples.rebase); nothing is written to the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

import orjson

from fhirbridge import examples
from fhirbridge.mappers import MAPPERS, MappingContext, prescribers_from
from fhirbridge.records import Prescriber
from fhirbridge.services import Services

EXAMPLE_SYSTEM = "urn:fhirbridge:example"
_PEOPLE = ("Practitioner", "PractitionerRole", "Medication")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExamplePatient:
    id: str  # "ex-pt-02"
    name: str
    scenario: str  # what the constructed patient was built to show (expected.json)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoData:
    resources: list[dict[str, Any]]  # the patient's, plus Practitioners, roles, Medications
    as_of: date  # the day the example data was laid out for


def example_patients() -> list[ExamplePatient]:
    """The bundled example patients, in id order, with their scenarios."""
    expected = orjson.loads((examples.DATA_DIR.parent / "expected.json").read_bytes())
    scenarios = {p["patient"]: p.get("scenario", "") for p in expected["patients"]}
    found = []
    for resource in _bundled("Patient"):
        name = resource.get("name") or [{}]
        label = " ".join([*name[0].get("given", []), name[0].get("family", "")]).strip()
        found.append(
            ExamplePatient(
                id=resource["id"],
                name=label,
                scenario=scenarios.get(f"Patient/{resource['id']}", ""),
            )
        )
    return sorted(found, key=lambda p: p.id)


def demo_data(services: Services, patient_id: str, today: date) -> DemoData | None:
    """An example patient's resources: from the store if loaded there, else the bundled files.

    None when `patient_id` is not one of the bundled example patients.
    """
    bundled = {r["id"]: r for r in _bundled("Patient")}
    if patient_id not in bundled:
        return None
    patient = f"Patient/{patient_id}"
    stored = next(
        (rs for p, rs in services.store.resources_by_patient(MAPPERS, patients=[patient])), None
    )
    stored_patient = next(
        (r for r in stored or () if r.get("resourceType") == "Patient" and _is_example(r)), None
    )
    if stored is not None and stored_patient is not None:
        # The CLI moved the example data by (its as-of - REFERENCE_DATE) days when it loaded it
        # (examples.rebase, applied to birthDate too): the same shift gives that as-of back.
        shift = _days_between(bundled[patient_id].get("birthDate"), stored_patient.get("birthDate"))
        people = [r for t in _PEOPLE for r in services.store.resources_of_type(t)]
        return DemoData(
            resources=[*stored, *people], as_of=examples.REFERENCE_DATE + timedelta(days=shift)
        )
    shift = (today - examples.REFERENCE_DATE).days
    own = [
        examples.rebase(r, shift)
        for t in MAPPERS
        for r in _bundled(t)
        if _subject(r) == patient or (t == "Patient" and r.get("id") == patient_id)
    ]
    people = [examples.rebase(r, shift) for t in _PEOPLE for r in _bundled(t)]
    return DemoData(resources=[*own, *people], as_of=today)


def context_for(
    services: Services, resources: Iterable[Mapping[str, Any]]
) -> tuple[MappingContext, dict[str, Prescriber]]:
    """Medications by reference and prescribers with their roles, from the resources in hand."""
    resources = list(resources)
    medications = {
        f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"
    }
    ctx = MappingContext(terminology=services.terminology, medications=medications)
    prescribers = prescribers_from(
        [r for r in resources if r.get("resourceType") == "PractitionerRole"],
        [r for r in resources if r.get("resourceType") == "Practitioner"],
        services.roles,
    )
    return ctx, prescribers


def _is_example(resource: Mapping[str, Any]) -> bool:
    return any(
        isinstance(i, Mapping) and i.get("system") == EXAMPLE_SYSTEM
        for i in resource.get("identifier") or ()
    )


def _subject(resource: Mapping[str, Any]) -> str | None:
    holder = resource.get("subject") or resource.get("patient") or {}
    ref = holder.get("reference") if isinstance(holder, Mapping) else None
    return ref if isinstance(ref, str) else None


def _days_between(first: Any, second: Any) -> int:
    try:
        return (date.fromisoformat(second) - date.fromisoformat(first)).days
    except (TypeError, ValueError):
        return 0


@cache
def _bundled_bytes(resource_type: str) -> tuple[bytes, ...]:
    path = examples.DATA_DIR / f"{resource_type}.ndjson"
    return tuple(path.read_bytes().splitlines()) if path.is_file() else ()


def _bundled(resource_type: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in _bundled_bytes(resource_type)]
