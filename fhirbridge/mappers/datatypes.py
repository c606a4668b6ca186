"""Pure readers for FHIR R4 datatypes inside plain dicts: references, dates, codings, quantities.

Tolerant: each reader returns None (or an empty value) for anything it cannot use; callers
decide whether that makes the resource unusable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

FhirJson = Mapping[str, Any]

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

# Units that mean "days" in Duration/Quantity (UCUM `d`, and the free text EHRs send).
_DAY_UNITS = {"d", "day", "days"}
_WEEK_UNITS = {"wk", "week", "weeks"}
_MONTH_UNITS = {"mo", "month", "months"}


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date, dateTime or instant, as written (no UTC shift).

    A fill at 2025-01-05T23:30:00-05:00 happened on 5 January for the patient; converting to
    UTC would move it to the 6th. Partial dates (YYYY, YYYY-MM) are not precise enough: None.
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None


def reference(value: Any) -> str | None:
    """A Reference's `reference` string ("Practitioner/7"), or None."""
    if isinstance(value, Mapping):
        ref = value.get("reference")
        if isinstance(ref, str) and ref:
            return ref
    return None


def relative_reference(value: Any) -> str | None:
    """A reference reduced to `Type/id` (absolute URLs and `_history` suffixes stripped)."""
    ref = reference(value)
    if ref is None or ref.startswith("#"):
        return None
    parts = ref.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


def codings(concept: Any) -> Iterator[FhirJson]:
    """The codings of a CodeableConcept that are dicts."""
    if isinstance(concept, Mapping):
        for coding in concept.get("coding") or ():
            if isinstance(coding, Mapping):
                yield coding


def token_set(concept: Any) -> frozenset[str]:
    """`system|code` for each coding of a CodeableConcept."""
    return frozenset(
        f"{c.get('system', '')}|{c['code']}"
        for c in codings(concept)
        if isinstance(c.get("code"), str)
    )


def concept_text(concept: Any) -> str:
    """The readable text of a CodeableConcept: `text`, else the displays joined."""
    if not isinstance(concept, Mapping):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    return " / ".join(
        str(c["display"]) for c in codings(concept) if isinstance(c.get("display"), str)
    )


def number(value: Any) -> float | None:
    """A JSON number as float (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def quantity_value(quantity: Any) -> float | None:
    """Quantity.value as float."""
    return number(quantity.get("value")) if isinstance(quantity, Mapping) else None


def duration_days(duration: Any) -> float | None:
    """A Duration or Quantity in days (d, wk, mo); None when the unit is not a time unit."""
    if not isinstance(duration, Mapping):
        return None
    value = number(duration.get("value"))
    if value is None:
        return None
    unit = str(duration.get("code") or duration.get("unit") or "d").strip().lower()
    if unit in _DAY_UNITS:
        return value
    if unit in _WEEK_UNITS:
        return value * 7
    if unit in _MONTH_UNITS:
        return value * 30  # UCUM `mo` is 30.4375 d; pharmacies count a month supply as 30
    return None


def subject_ref(resource: FhirJson) -> str | None:
    """The patient a clinical resource is about: `subject`, else `patient` (Type/id)."""
    ref = relative_reference(resource.get("subject")) or relative_reference(resource.get("patient"))
    return ref if ref is not None and ref.startswith("Patient/") else None
