"""Constructed example dataset (FHIR R4 Bulk Data NDJSON): default source, demos and tests."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR", "REFERENCE_DATE", "rebase"]

#: Folder holding one ``<ResourceType>.ndjson`` file per resource type.
DATA_DIR: Path = Path(__file__).resolve().parent / "data"

#: The as-of date the scenarios are designed around (see README.md in this folder).
REFERENCE_DATE: date = date(2026, 6, 30)

# A FHIR date, dateTime or instant always starts with YYYY-MM-DD followed by the end of the
# string or by "T" (https://hl7.org/fhir/R4/datatypes.html#dateTime). Partial dates (YYYY,
# YYYY-MM) do not match and are left alone.
_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?=T|$)")


def rebase(resource: dict[str, Any], days: int) -> dict[str, Any]:
    """Return a deep copy of ``resource`` with every full date string shifted by ``days`` days.

    Every string value anywhere in the resource (nested dicts and lists included) that starts
    with a full ``YYYY-MM-DD`` date is shifted; the time of day and the timezone after the date
    are kept unchanged. Everything is shifted uniformly, ``meta.lastUpdated`` and
    ``birthDate`` included, so that intervals between dates are preserved. Used by the CLI to
    move the example data so that an as-of date of today finds what ``REFERENCE_DATE`` finds:
    ``rebase(resource, (as_of - REFERENCE_DATE).days)``.

    Args:
        resource: a FHIR resource (or any JSON-like value) as plain Python data.
        days: the number of days to add (negative moves dates back).

    Returns:
        A new object; ``resource`` is not modified.
    """
    result: dict[str, Any] = _shift(resource, days)
    return result


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {key: _shift(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, days) for item in value]
    if isinstance(value, str) and days:
        match = _DATE_PREFIX.match(value)
        if match:
            try:
                day = date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:  # looks like a date but is not one (e.g. 2026-02-30): keep
                return value
            return (day + timedelta(days=days)).isoformat() + value[match.end() :]
    return value
