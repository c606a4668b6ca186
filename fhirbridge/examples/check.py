"""Constructed example data: self-checks run by ``generate --check`` (FHIR validity, references,
dates, and an independent recomputation of every PDC figure the README states).

Each check returns a list of problems (empty when all is well). ``fhir.resources`` is imported
only inside :func:`validate`, so the rest of the package stays stdlib-only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.examples.scenarios import DEAD_LETTER, SCENARIOS

Resource = dict[str, Any]
Resources = dict[str, list[Resource]]

WINDOW_DAYS = 365
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?=T|$)")

# Required bindings that fhir.resources does not enforce (it checks structure, not codes).
_ALLOWED = {
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("Practitioner", "gender"): {"male", "female", "other", "unknown"},
    ("MedicationRequest", "status"): {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    },
    ("MedicationRequest", "intent"): {"order"},
    ("MedicationDispense", "status"): {"completed"},
    ("MedicationStatement", "status"): {"active", "completed", "stopped", "intended"},
    ("Observation", "status"): {"final"},
    ("Encounter", "status"): {"finished"},
    ("Medication", "status"): {"active"},
}

# Ingredient (as it appears in display text) -> adherence group, for the PDC recomputation.
_GROUPS = {
    "buprenorphine": "moud",
    "naltrexone": "moud",
    "sertraline": "antidepressant",
    "escitalopram": "antidepressant",
    "fluoxetine": "antidepressant",
    "phenelzine": "antidepressant",
    "quetiapine": "antipsychotic",
    "olanzapine": "antipsychotic",
    "aripiprazole": "antipsychotic",
    "lithium": "mood-stabilizer",
}


def all_resources(resources: Resources) -> Iterator[Resource]:
    for items in resources.values():
        yield from items


def ref_of(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def validate(resources: Resources) -> list[str]:
    """Every resource parses as FHIR R4 (fhir.resources R4B); the dead letter must not."""
    try:  # optional dependency: imported late, only for --check
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError:
        return ["validation needs fhir.resources>=8: pip install 'fhir.resources>=8'"]

    problems = []
    for resource in all_resources(resources):
        ref = ref_of(resource)
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except Exception as exc:  # pydantic ValidationError, or ValueError/KeyError
            if ref != DEAD_LETTER:
                problems.append(f"{ref}: invalid FHIR R4: {exc}")
        else:
            if ref == DEAD_LETTER:
                problems.append(f"{ref}: meant to be unusable but validates")
        for (rtype, key), allowed in _ALLOWED.items():
            if resource["resourceType"] == rtype and resource.get(key) not in allowed:
                problems.append(f"{ref}: {key}={resource.get(key)!r} not in {sorted(allowed)}")
    return problems


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


def references(resources: Resources) -> list[str]:
    """Every Reference.reference points to a resource in the dataset or to a contained one."""
    known = {ref_of(r) for r in all_resources(resources)}
    problems = []
    for resource in all_resources(resources):
        contained = {f"#{c['id']}" for c in resource.get("contained", [])}
        for path, value in _walk(resource):
            if path.endswith("reference") and value not in known | contained:
                problems.append(f"{ref_of(resource)}: {path} -> {value} does not resolve")
    return problems


def dates(resources: Resources) -> list[str]:
    """Clinical dates fall in the 365 days before REFERENCE_DATE; patients are adults."""
    first = REFERENCE_DATE - timedelta(days=WINDOW_DAYS)
    problems = []
    for resource in all_resources(resources):
        for path, value in _walk(resource):
            match = _DATE.match(value) if isinstance(value, str) else None
            if not match or path.startswith("meta.") or path == "birthDate":
                continue
            if not first <= date.fromisoformat(match[1]) <= REFERENCE_DATE:
                problems.append(f"{ref_of(resource)}: {path}={value} outside {first}..")
        if resource["resourceType"] == "Patient":
            born = date.fromisoformat(resource["birthDate"])
            if born > REFERENCE_DATE.replace(year=REFERENCE_DATE.year - 18):
                problems.append(f"{ref_of(resource)}: not an adult on {REFERENCE_DATE}")
    return problems


def _concept(resource: Resource, shared: dict[str, Resource]) -> Resource | None:
    if "medicationCodeableConcept" in resource:
        concept: Resource = resource["medicationCodeableConcept"]
        return concept
    reference = resource.get("medicationReference", {}).get("reference", "")
    if reference.startswith("#"):
        target = next(c for c in resource["contained"] if f"#{c['id']}" == reference)
    else:
        target = shared.get(reference, {})
    code: Resource | None = target.get("code")
    return code


def _ingredient(concept: Resource | None) -> str | None:
    if not concept:
        return None
    words = " ".join(
        [concept.get("text", "")] + [c.get("display", "") for c in concept.get("coding", [])]
    ).lower()
    return next((name for name in _GROUPS if name in words), None)


def _fills(
    patient: str, resources: Resources, shared: dict[str, Resource], rtype: str
) -> list[tuple[str, date, int, str]]:
    """(group, start, days, ingredient) for each dispense or order of ``patient``."""
    fills = []
    for resource in resources[rtype]:
        if resource["subject"]["reference"] != patient:
            continue
        ingredient = _ingredient(_concept(resource, shared))
        if ingredient is None:
            continue
        if rtype == "MedicationDispense":
            start, supply = resource["whenHandedOver"], resource["daysSupply"]["value"]
        else:
            start = resource["authoredOn"]
            supply = resource["dispenseRequest"]["expectedSupplyDuration"]["value"]
        fills.append((_GROUPS[ingredient], date.fromisoformat(start[:10]), supply, ingredient))
    return fills


def pdc_records(patient: str, resources: Resources) -> list[Resource]:
    """An independent PDC per CONTRACT.md, as adherence.ndjson lines, for one patient."""
    shared = {ref_of(m): m for m in resources["Medication"]}
    window_start = REFERENCE_DATE - timedelta(days=WINDOW_DAYS - 1)
    dispensed = _fills(patient, resources, shared, "MedicationDispense")
    ordered = _fills(patient, resources, shared, "MedicationRequest")
    records = []
    for group in sorted({f[0] for f in dispensed + ordered}):
        basis = "dispense" if any(f[0] == group for f in dispensed) else "order"
        fills = sorted(
            (
                f
                for f in (dispensed if basis == "dispense" else ordered)
                if f[0] == group and window_start <= f[1] <= REFERENCE_DATE
            ),
            key=lambda f: (f[3], f[1]),
        )
        if len({f[1] for f in fills}) < 2:
            continue
        covered: set[date] = set()
        next_free: dict[str, date] = {}
        for _, start, supply, ingredient in fills:  # same ingredient: carry over
            begin = max(start, next_free.get(ingredient, start))
            next_free[ingredient] = begin + timedelta(days=supply)
            covered |= {
                begin + timedelta(days=k)
                for k in range(supply)
                if begin + timedelta(days=k) <= REFERENCE_DATE
            }
        index = min(f[1] for f in fills)
        in_period = (REFERENCE_DATE - index).days + 1
        value = round(len(covered) / in_period, 4)
        records.append(
            {
                "patient": patient,
                "group": group,
                "measure": "PDC",
                "value": value,
                "adherent": value >= 0.80,
                "period_start": index.isoformat(),
                "period_end": REFERENCE_DATE.isoformat(),
                "days_covered": len(covered),
                "days_in_period": in_period,
                "fills": len(fills),
                "basis": basis,
            }
        )
    return records


def expected_pdc(number: int) -> list[Resource]:
    """The adherence lines scenario ``number`` states (README and expected.json)."""
    scenario = SCENARIOS[number - 1]
    return [
        {
            "patient": scenario.patient,
            "group": p.group,
            "measure": "PDC",
            "value": p.value,
            "adherent": p.adherent,
            "period_start": (REFERENCE_DATE + timedelta(days=p.first_fill)).isoformat(),
            "period_end": REFERENCE_DATE.isoformat(),
            "days_covered": p.days_covered,
            "days_in_period": p.days_in_period,
            "fills": p.fills,
            "basis": p.basis,
        }
        for p in sorted(scenario.pdc, key=lambda p: p.group)
    ]


def pdc(resources: Resources) -> list[str]:
    """The PDC figures each scenario states match a recomputation from the data."""
    problems = []
    for scenario in SCENARIOS:
        got = pdc_records(scenario.patient, resources)
        want = expected_pdc(scenario.number)
        if got != want:
            problems.append(f"{scenario.patient}: PDC stated {want}, data gives {got}")
    return problems


def run_all(resources: Resources) -> list[str]:
    checks: Iterable[list[str]] = (
        validate(resources),
        references(resources),
        dates(resources),
        pdc(resources),
    )
    return [problem for found in checks for problem in found]
