"""Pure: PractitionerRole → Prescriber, the role coming from NUCC specialty codes.

Table: `config/prescriber-roles.toml` (every code VERIFIED in codes-verified.md section 4).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fhirbridge.errors import ConfigError, MappingError
from fhirbridge.mappers.datatypes import FhirJson, relative_reference, token_set
from fhirbridge.records import Prescriber, PrescriberRole


@dataclass(frozen=True, slots=True)
class RoleTable:
    """NUCC `system|code` → role, and which role wins when a practitioner has several."""

    by_token: dict[str, PrescriberRole]
    precedence: tuple[PrescriberRole, ...]

    def role_for(self, tokens: Iterable[str]) -> PrescriberRole:
        roles = {self.by_token[t] for t in tokens if t in self.by_token}
        for role in self.precedence:
            if role in roles:
                return role
        return PrescriberRole.OTHER


def load_role_table(path: Path | None = None) -> RoleTable:
    """Load `config/prescriber-roles.toml`.

    Raises:
        ConfigError: unreadable file or an unknown role name.
    """
    path = path or Path(str(resources.files("fhirbridge") / "config" / "prescriber-roles.toml"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        system = data["system"]
        by_token = {
            f"{system}|{code}": PrescriberRole(entry["role"])
            for code, entry in data["codes"].items()
        }
        precedence = tuple(PrescriberRole(r) for r in data["precedence"])
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        raise ConfigError(str(path), "", f"invalid role table: {exc}") from None
    return RoleTable(by_token=by_token, precedence=precedence)


def to_prescriber(resource: FhirJson, table: RoleTable) -> Prescriber:
    """Map one PractitionerRole to the Practitioner it describes.

    Raises:
        MappingError: no practitioner reference.
    """
    practitioner = relative_reference(resource.get("practitioner"))
    if practitioner is None:
        raise MappingError("practitioner", "no Practitioner reference")
    tokens: set[str] = set()
    for concept in resource.get("specialty") or ():
        tokens.update(token_set(concept))
    for concept in resource.get("code") or ():
        tokens.update(token_set(concept))
    return Prescriber(
        ref=practitioner, role=table.role_for(tokens), specialties=tuple(sorted(tokens))
    )
