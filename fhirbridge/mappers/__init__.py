"""Mappers: pure, tolerant FHIR dict → domain record. No I/O; no requests, sqlmodel or flask.

`MAPPERS` is the explicit registry of the clinical resource types analysis reads; other types
that sync keeps (Patient, Practitioner, Medication, ...) are context, not records.
"""

from collections.abc import Callable
from typing import Any

from fhirbridge.mappers.condition import to_condition
from fhirbridge.mappers.datatypes import FhirJson, parse_date, relative_reference, subject_ref
from fhirbridge.mappers.encounter import to_inpatient_stay
from fhirbridge.mappers.integrator import IntegratorMappings, load_mapping_files
from fhirbridge.mappers.medication import MappingContext
from fhirbridge.mappers.medication_dispense import to_dispense
from fhirbridge.mappers.medication_request import to_order
from fhirbridge.mappers.medication_statement import to_statement
from fhirbridge.mappers.observation import to_observation
from fhirbridge.mappers.patient import to_vital_status
from fhirbridge.mappers.prescriber import (
    RoleTable,
    load_role_table,
    prescribers_from,
    to_prescriber,
)
from fhirbridge.mappers.terminology import Terminology, load_terminology

# Order matters only for reading: supply first, then reports, then results.
MAPPERS: dict[str, Callable[[FhirJson, MappingContext], Any]] = {
    "MedicationDispense": to_dispense,
    "MedicationRequest": to_order,
    "MedicationStatement": to_statement,
    "Observation": to_observation,
    "Condition": to_condition,
    "Patient": to_vital_status,  # deceased[x] only: no findings about a patient who has died
    "Encounter": to_inpatient_stay,  # inpatient stays only; other classes are counted skips
}

# Every type sync pulls and the store keeps; anything else in a source is a counted skip.
KNOWN_TYPES = frozenset(
    {
        *MAPPERS,
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Medication",
        "Organization",
        "Condition",
        "Encounter",
    }
)

__all__ = [
    "KNOWN_TYPES",
    "MAPPERS",
    "FhirJson",
    "IntegratorMappings",
    "MappingContext",
    "RoleTable",
    "Terminology",
    "load_mapping_files",
    "load_role_table",
    "load_terminology",
    "parse_date",
    "prescribers_from",
    "relative_reference",
    "subject_ref",
    "to_condition",
    "to_dispense",
    "to_inpatient_stay",
    "to_observation",
    "to_order",
    "to_prescriber",
    "to_statement",
]
