"""Pure: the medication of an order, dispense or statement, resolved and classified.

`medicationCodeableConcept` is used as is; `medicationReference` is resolved to a contained
Medication (`#id`) or to a Medication from the store, whose `code` is then classified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fhirbridge.errors import MappingError
from fhirbridge.mappers.datatypes import FhirJson, reference, relative_reference
from fhirbridge.mappers.terminology import Terminology
from fhirbridge.records import Drug


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What mappers may consult besides the resource itself."""

    terminology: Terminology
    # Medications by "Medication/<id>"; None at ingest, when referenced Medications may not
    # have arrived yet (an unresolved reference is then not an error).
    medications: Mapping[str, FhirJson] | None = None
    prescriber_roles: Mapping[str, str] = field(default_factory=dict)


def medication_of(resource: FhirJson, ctx: MappingContext) -> Drug:
    """Classify the resource's medication[x].

    Raises:
        MappingError: no medication[x] at all, or a reference that cannot be resolved.
    """
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, Mapping):
        return ctx.terminology.classify(concept)
    ref = reference(resource.get("medicationReference"))
    if ref is None:
        raise MappingError("medication[x]", "missing")
    if ref.startswith("#"):
        for contained in resource.get("contained") or ():
            if isinstance(contained, Mapping) and contained.get("id") == ref[1:]:
                return ctx.terminology.classify(contained.get("code"))
        raise MappingError("medicationReference", "contained Medication not found")
    if ctx.medications is None:
        return ctx.terminology.classify(None)
    target = relative_reference(resource.get("medicationReference"))
    medication = ctx.medications.get(target or "")
    if medication is None:
        raise MappingError("medicationReference", "referenced Medication not found")
    return ctx.terminology.classify(medication.get("code"))
