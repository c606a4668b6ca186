"""Pure: PractitionerRole (and integrator mappings) → Prescriber, with a coordination role.

The role comes, in this order, from:
1. an integrator mapping of the practitioner (by reference or identifier, e.g. NPI): the site
   knows best;
2. PractitionerRole.specialty (and .code) in NUCC taxonomy codes, `config/prescriber-roles.toml`
   (every code VERIFIED in codes-verified.md section 4), under the preferred system URI or the
   older `http://terminology.hl7.org/CodeSystem/v3-nuccProviderCodes` (UTG lists both);
3. an integrator mapping of the PractitionerRole's department (location, or organization
   mapped as a department), then of its organization: for practitioners without specialty.
A practitioner with several PractitionerRoles gets the most specific role (table precedence).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fhirbridge.errors import ConfigError, MappingError
from fhirbridge.mappers.datatypes import FhirJson, relative_reference, token_set
from fhirbridge.mappers.integrator import IntegratorMappings
from fhirbridge.records import Prescriber, PrescriberRole


@dataclass(frozen=True, slots=True)
class RoleTable:
    """NUCC `system|code` → role, the precedence of roles, and the integrator's mappings."""

    by_token: dict[str, PrescriberRole]
    precedence: tuple[PrescriberRole, ...]
    mappings: IntegratorMappings = field(default_factory=IntegratorMappings)

    def role_for(self, tokens: Iterable[str]) -> PrescriberRole:
        roles = {self.by_token[t] for t in tokens if t in self.by_token}
        for role in self.precedence:
            if role in roles:
                return role
        return PrescriberRole.OTHER

    def rank(self, role: PrescriberRole) -> int:
        """Lower is more specific; OTHER (not in the precedence) ranks last."""
        return self.precedence.index(role) if role in self.precedence else len(self.precedence)


def load_role_table(
    path: Path | None = None, *, mappings: IntegratorMappings | None = None
) -> RoleTable:
    """Load `config/prescriber-roles.toml`, with the integrator's role mappings.

    Raises:
        ConfigError: unreadable file or an unknown role name.
    """
    path = path or Path(str(resources.files("fhirbridge") / "config" / "prescriber-roles.toml"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        systems = data["systems"]
        by_token = {
            f"{system}|{code}": PrescriberRole(entry["role"])
            for system in systems
            for code, entry in data["codes"].items()
        }
        precedence = tuple(PrescriberRole(r) for r in data["precedence"])
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        raise ConfigError(str(path), "", f"invalid role table: {exc}") from None
    return RoleTable(
        by_token=by_token, precedence=precedence, mappings=mappings or IntegratorMappings()
    )


def to_prescriber(resource: FhirJson, table: RoleTable) -> Prescriber:
    """Map one PractitionerRole to the Practitioner it describes (specialty, then department
    and organization mappings; a practitioner mapping is applied by `prescribers_from`).

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
    role = table.role_for(tokens)
    if role is PrescriberRole.OTHER:
        role = _place_role(resource, table.mappings) or role
    return Prescriber(ref=practitioner, role=role, specialties=tuple(sorted(tokens)))


def _place_role(resource: FhirJson, mappings: IntegratorMappings) -> PrescriberRole | None:
    """The role mapped to the PractitionerRole's department, else to its organization."""
    places = [relative_reference(loc) for loc in resource.get("location") or ()]
    organization = relative_reference(resource.get("organization"))
    for place in (*places, organization):
        if place and place in mappings.departments:
            return mappings.departments[place]
    if organization and organization in mappings.organizations:
        return mappings.organizations[organization]
    return None


def prescribers_from(
    practitioner_roles: Iterable[FhirJson],
    practitioners: Iterable[FhirJson],
    table: RoleTable,
) -> dict[str, Prescriber]:
    """Prescribers by reference: each Practitioner, and each PractitionerRole (orders may name
    either as requester), with the most specific role; a bad PractitionerRole only loses its
    role, never the run.
    """
    found: dict[str, Prescriber] = {}
    aliases: dict[str, str] = {}  # "PractitionerRole/<id>" → "Practitioner/<id>"
    for resource in practitioner_roles:
        try:
            prescriber = to_prescriber(resource, table)
        except MappingError:
            continue
        if resource.get("id"):
            aliases[f"PractitionerRole/{resource['id']}"] = prescriber.ref
        previous = found.get(prescriber.ref)
        if previous is None or table.rank(prescriber.role) < table.rank(previous.role):
            found[prescriber.ref] = prescriber
    mapped = table.mappings.practitioners
    for resource in practitioners:
        ref = f"Practitioner/{resource.get('id')}"
        identifiers = {
            f"{i.get('system')}|{i.get('value')}"
            for i in resource.get("identifier") or ()
            if isinstance(i, Mapping)
        }
        role = mapped.get(ref) or next(
            (mapped[i] for i in sorted(identifiers) if i in mapped), None
        )
        if role is not None:
            previous = found.get(ref)
            found[ref] = Prescriber(
                ref=ref, role=role, specialties=previous.specialties if previous else ()
            )
    for ref, role in mapped.items():  # mapped by reference, with no Practitioner resource
        if ref.startswith("Practitioner/") and ref not in found:
            found[ref] = Prescriber(ref=ref, role=role)
    for alias, ref in aliases.items():
        if ref in found:
            found[alias] = Prescriber(
                ref=alias, role=found[ref].role, specialties=found[ref].specialties
            )
    return found
