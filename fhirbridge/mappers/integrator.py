"""Integrator mapping files: local and NDC medication codes, and prescriber roles, per site.

Read at start-up (the only I/O here: the files the configuration names), validated with a
JSON Schema; a bad file stops start-up with one line naming the file, the path inside it and
the problem. Format (TOML, see config/mappings/example.toml):

    source = "where the codes came from"
    [medications]                     "system|code" = ["ingredient", ...]
    [prescriber_roles.practitioners]  "Practitioner/<id>" or "system|value" (an NPI) = "<role>"
    [prescriber_roles.organizations]  "Organization/<id>" = "<role>"
    [prescriber_roles.departments]    "Location/<id>" or "Organization/<id>" = "<role>"

Roles are those of records.PrescriberRole. Departments are what PractitionerRole.location
(Epic exposes departments as Location) or a department Organization (partOf its parent) names.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.records import PrescriberRole
from fhirbridge.tomlfiles import read_toml

_ROLE = {"enum": [r.value for r in PrescriberRole]}
_ROLE_MAP = {"type": "object", "additionalProperties": _ROLE}

MAPPING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string"},
        "medications": {
            "type": "object",
            "propertyNames": {"pattern": "^[^|]+\\|[^|]+$"},
            "additionalProperties": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
            },
        },
        "prescriber_roles": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "practitioners": {
                    **_ROLE_MAP,
                    "propertyNames": {"pattern": "^(Practitioner/[^/|]+|[^|]+\\|[^|]+)$"},
                },
                "organizations": {**_ROLE_MAP, "propertyNames": {"pattern": "^Organization/"}},
                "departments": {
                    **_ROLE_MAP,
                    "propertyNames": {"pattern": "^(Location|Organization)/[^/]+$"},
                },
            },
        },
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegratorMappings:
    """Everything the mapping files say, with where each medication code was said."""

    medications: dict[str, tuple[str, ...]] = field(default_factory=dict)
    practitioners: dict[str, PrescriberRole] = field(default_factory=dict)
    organizations: dict[str, PrescriberRole] = field(default_factory=dict)
    departments: dict[str, PrescriberRole] = field(default_factory=dict)
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)  # code → (file, path)
    files: tuple[str, ...] = ()


def load_mapping_files(patterns: Iterable[str]) -> IntegratorMappings:
    """Read every file the glob patterns match (relative to the working directory), in order.

    Raises:
        ConfigError: an unreadable file, invalid TOML, or a schema violation, naming the file.
    """
    result = IntegratorMappings()
    files: list[str] = []
    for pattern in patterns:
        for file in sorted(glob.glob(pattern)):
            _read_into(result, file)
            files.append(file)
    return IntegratorMappings(
        medications=result.medications,
        practitioners=result.practitioners,
        organizations=result.organizations,
        departments=result.departments,
        origins=result.origins,
        files=tuple(files),
    )


def validate_mapping_file(file: str) -> IntegratorMappings:
    """One file on its own (`fhirbridge mappings validate PATH`)."""
    return load_mapping_files([glob.escape(file)])


def _read_into(result: IntegratorMappings, file: str) -> None:
    data = read_toml(file, MAPPING_SCHEMA, kind="mapping")
    for token, names in data.get("medications", {}).items():
        result.medications[token] = tuple(names)
        result.origins[token] = (file, f"medications/{token}")
    roles = data.get("prescriber_roles", {})
    for kind, target in (
        ("practitioners", result.practitioners),
        ("organizations", result.organizations),
        ("departments", result.departments),
    ):
        for key, role in roles.get(kind, {}).items():
            target[key] = PrescriberRole(role)
