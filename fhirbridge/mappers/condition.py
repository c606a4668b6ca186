"""Pure: Condition → ConditionRecord (a diagnosis with its status and dates).

Reads `code`, `clinicalStatus`, `verificationStatus`, `onset[x]`, `recordedDate` and
`abatement[x]` (hl7.org/fhir/R4/condition.html). Which codes mean what (opioid use disorder,
...) is the rules' business, not the mapper's: the record keeps every coding as `system|code`.
"""

from __future__ import annotations

from collections.abc import Mapping

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers.datatypes import FhirJson, codings, concept_text, parse_date, subject_ref
from fhirbridge.records import ConditionRecord

# R4 condition-ver-status values that assert the patient does not have the condition
# (hl7.org/fhir/R4/valueset-condition-ver-status.html).
_NOT_DIAGNOSED = {"refuted", "entered-in-error"}


def to_condition(resource: FhirJson, ctx: object = None) -> ConditionRecord:
    """Map one Condition (ctx unused: diagnoses need no terminology lookups here).

    Raises:
        NotApplicable: refuted or entered in error, or no coded diagnosis (a free-text problem
            is valid FHIR that no rule can match).
        MappingError: no patient.
    """
    verification = _status(resource.get("verificationStatus"))
    if verification in _NOT_DIAGNOSED:
        raise NotApplicable("verificationStatus", verification or "")
    patient = subject_ref(resource)
    if patient is None:
        raise MappingError("subject", "no Patient reference")
    concept = resource.get("code")
    codes = frozenset(
        f"{c.get('system', '')}|{c['code']}"
        for c in codings(concept)
        if isinstance(c.get("code"), str) and c["code"]
    )
    if not codes:
        raise NotApplicable("code", "no coded diagnosis")
    onset_period = resource.get("onsetPeriod") or {}
    abatement_period = resource.get("abatementPeriod") or {}
    return ConditionRecord(
        ref=f"Condition/{resource.get('id')}",
        patient=patient,
        codes=codes,
        clinical_status=_status(resource.get("clinicalStatus")),
        verification_status=verification,
        onset=parse_date(resource.get("onsetDateTime"))
        or parse_date(onset_period.get("start") if isinstance(onset_period, Mapping) else None)
        or parse_date(resource.get("recordedDate")),
        abated=parse_date(resource.get("abatementDateTime"))
        or parse_date(
            abatement_period.get("end") if isinstance(abatement_period, Mapping) else None
        ),
        text=concept_text(concept),
    )


def _status(concept: object) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus), or None."""
    for coding in codings(concept):
        code = coding.get("code")
        if isinstance(code, str) and code:
            return code
    return None
