"""Pure: Patient → VitalStatus (Patient.deceased[x]): no alerts about a patient who has died.

Only `deceased[x]` is read (hl7.org/fhir/R4/patient.html). Never raises: a Patient that says
nothing about death is alive as far as fhirbridge can tell.
"""

from __future__ import annotations

from datetime import date

from fhirbridge.mappers.datatypes import FhirJson, parse_date
from fhirbridge.records import VitalStatus


def to_vital_status(resource: FhirJson, ctx: object = None) -> VitalStatus:
    """The patient's death date; date.min when only `deceasedBoolean: true` is known."""
    died = parse_date(resource.get("deceasedDateTime"))
    if died is None and resource.get("deceasedBoolean") is True:
        died = date.min  # deceased, date unknown: before any as_of
    return VitalStatus(patient=f"Patient/{resource.get('id')}", deceased=died)
