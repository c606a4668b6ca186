"""Pure: one patient's raw resources → PatientRecords, with every skip counted and explained."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.condition import to_condition
from fhirbridge.mappers.datatypes import FhirJson
from fhirbridge.mappers.encounter import to_inpatient_stay
from fhirbridge.mappers.medication import MappingContext
from fhirbridge.mappers.medication_dispense import to_dispense
from fhirbridge.mappers.medication_request import to_order
from fhirbridge.mappers.medication_statement import to_statement
from fhirbridge.mappers.observation import to_components, to_observation
from fhirbridge.mappers.patient import to_vital_status
from fhirbridge.records import (
    ConditionRecord,
    InpatientStay,
    MedicationEvent,
    ObservationRecord,
    PatientRecords,
    Prescriber,
)

_EVENT_MAPPERS = {
    "MedicationRequest": to_order,
    "MedicationDispense": to_dispense,
    "MedicationStatement": to_statement,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    """A resource analysis did not use, and why. `dead_letter` when it was unusable."""

    ref: str
    reason: str  # "<element>: <problem>", e.g. "medication[x]: missing"
    dead_letter: bool  # True: malformed (kept in the dead-letter table); False: not applicable


def skip_of(ref: str, error: MappingError) -> Skip:
    return Skip(ref=ref, reason=str(error), dead_letter=not isinstance(error, NotApplicable))


def to_patient_records(
    patient: str,
    resources: Iterable[FhirJson],
    ctx: MappingContext,
    prescribers: Mapping[str, Prescriber] | None = None,
) -> tuple[PatientRecords, list[Skip]]:
    """Map a patient's clinical resources; an unusable resource is skipped, never fatal."""
    events: list[MedicationEvent] = []
    observations: list[ObservationRecord] = []
    conditions: list[ConditionRecord] = []
    deceased: date | None = None
    stays: list[InpatientStay] = []
    skips: list[Skip] = []
    for resource in resources:
        rtype = resource.get("resourceType")
        ref = f"{rtype}/{resource.get('id')}"
        try:
            if rtype == "Observation":
                observation = to_observation(resource)
                observations.append(observation)
                observations.extend(to_components(resource, observation))
            elif rtype == "Patient":
                deceased = to_vital_status(resource).deceased
            elif rtype == "Condition":
                conditions.append(to_condition(resource))
            elif rtype in _EVENT_MAPPERS:
                # An unclassified drug is kept (it is the patient's medication, and the run
                # report lists its code for integrators to map) but no rule matches it.
                events.append(_EVENT_MAPPERS[rtype](resource, ctx))
            elif rtype == "Encounter":
                stays.append(to_inpatient_stay(resource))
        except MappingError as exc:
            skips.append(skip_of(ref, exc))
    events.sort(key=lambda e: (e.start, e.ref))
    observations.sort(key=lambda o: (o.effective, o.ref))
    stays.sort(key=lambda s: (s.start, s.ref))
    conditions.sort(key=lambda c: c.ref)
    used = {e.prescriber for e in events if e.prescriber}
    known = {ref: prescribers[ref] for ref in used if ref in prescribers} if prescribers else {}
    return (
        PatientRecords(
            patient=patient,
            events=tuple(events),
            observations=tuple(observations),
            conditions=tuple(conditions),
            deceased=deceased,
            prescribers=known,
            stays=tuple(stays),
        ),
        skips,
    )
