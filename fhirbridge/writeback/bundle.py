"""Write-back transaction Bundle. Pure: built resources → an idempotent FHIR R4 transaction.

Every entry is conditional and keyed by an identifier fhirbridge chose, so POSTing the same Bundle
twice changes nothing the second time (CONTRACT.md "writeback-bundle.json"):

- DetectedIssue, Flag and CarePlan: conditional update (`PUT Type?identifier=...`): they change
  in place over a finding's life (a DetectedIssue gains a mitigation when the finding resolves and
  loses it when the finding returns; its identifiedDateTime is the first-seen date, so a replay
  does not move it).
- Communication and DocumentReference (the ehr-restricted notices): conditional create only,
  because Epic and Oracle accept creates of them, not updates (ehr-integration.md section 2).
- Provenance: conditional create on its `_tag` key (R4 Provenance has no identifier).

References between entries use the deterministic `urn:uuid` fullUrls, which the server replaces
with the id it resolves each entry to (R4 http.html#trules). When an `ifNoneExist` matches, that
is the id of the *existing* resource: Oracle HDR (HAPI) documents it, Medplum's
BatchProcessor.resolveCreateIdentity does it (read in tests/fhir_server/node_modules), and a
POST-twice run against the test server confirmed it. Conditional references
(`DetectedIssue?identifier=...` inside a resource) are not used: Medplum rewrites only urn:uuid
references. So a Flag that points at a DetectedIssue needs that DetectedIssue's entry in the same
Bundle: transaction_bundle checks it.
Conditional create is a backstop, not a lock (ARCHITECTURE.md): the publisher's ledger serialises.
Measured on the test server (Medplum MemoryRepository): the second POST answers 200 everywhere and
changes no content, but each conditional update still adds a version with identical content (the
in-memory store has no no-op detection), so a publisher that wants no new versions skips entries
whose resource equals what its ledger last sent.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fhirbridge.writeback.build import FINDING_SYSTEM, PROVENANCE_SYSTEM

# uuid5 namespace for fullUrls: fixed, so the same identifier gives the same urn:uuid on every run
# and machine (uuid5 of NAMESPACE_URL and the text "urn:fhirbridge:bundle").
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:fhirbridge:bundle")
# What may stay unescaped in "identifier=<system>|<value>": the systems are urns and the values
# hex keys or "<patient id>:<concern>"; anything else is percent-encoded.
_SAFE = ":|-._~"
FhirJson = Mapping[str, Any]


def full_url(system: str, value: str) -> str:
    """The entry fullUrl for identifier `system`|`value`: "urn:uuid:" + uuid5, deterministic."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{system}|{value}')}"


def conditional_create_entry(resource: FhirJson, system: str, value: str) -> dict[str, Any]:
    """A POST entry with `ifNoneExist: identifier=<system>|<value>` (or `_tag=` for Provenance).

    Raises:
        ValueError: the resource does not carry that identifier (or tag, for Provenance).
    """
    rtype = _check_key(resource, system, value)
    param = "_tag" if rtype == "Provenance" else "identifier"
    return {
        "fullUrl": full_url(system, value),
        "resource": dict(resource),
        "request": {
            "method": "POST",
            "url": rtype,
            "ifNoneExist": f"{param}={quote(f'{system}|{value}', safe=_SAFE)}",
        },
    }


def conditional_update_entry(resource: FhirJson, system: str, value: str) -> dict[str, Any]:
    """A PUT entry to `<Type>?identifier=<system>|<value>`: update the match, or create it.

    Raises:
        ValueError: the resource does not carry that identifier, or has an `id` (R4 conditional
            update takes the id from the match).
    """
    rtype = _check_key(resource, system, value)
    if "id" in resource:
        raise ValueError(f"{rtype} for a conditional update must not have an id")
    return {
        "fullUrl": full_url(system, value),
        "resource": dict(resource),
        "request": {
            "method": "PUT",
            "url": f"{rtype}?identifier={quote(f'{system}|{value}', safe=_SAFE)}",
        },
    }


UPDATED_TYPES = ("DetectedIssue", "Flag", "CarePlan")  # state: updated in place
CREATED_TYPES = ("Communication", "DocumentReference")  # notices: created once, never updated


def entry_for(resource: FhirJson) -> dict[str, Any]:
    """The entry fhirbridge uses for a built resource, keyed by its first identifier.

    DetectedIssue, Flag, CarePlan: conditional update; Communication, DocumentReference:
    conditional create; Provenance: conditional create keyed by its PROVENANCE_SYSTEM tag.

    Raises:
        ValueError: a resource type fhirbridge does not write, or no key.
    """
    rtype = resource.get("resourceType")
    if rtype == "Provenance":
        meta = resource.get("meta", {})
        tags = [t for t in meta.get("tag", []) if t.get("system") == PROVENANCE_SYSTEM]
        if not tags:
            raise ValueError("Provenance has no urn:fhirbridge:provenance tag")
        return conditional_create_entry(resource, PROVENANCE_SYSTEM, tags[0]["code"])
    if rtype not in (*UPDATED_TYPES, *CREATED_TYPES):
        valid = ", ".join(sorted((*UPDATED_TYPES, *CREATED_TYPES, "Provenance")))
        raise ValueError(f"fhirbridge does not write {rtype!r}; valid: {valid}")
    if not resource.get("identifier"):
        raise ValueError(f"{rtype} has no identifier")
    key = resource["identifier"][0]
    if rtype in CREATED_TYPES:
        return conditional_create_entry(resource, key["system"], key["value"])
    return conditional_update_entry(resource, key["system"], key["value"])


def detected_issue_url(finding_key: str) -> str:
    """The fullUrl of a finding's DetectedIssue entry, for Flag/CarePlan/Provenance references."""
    return full_url(FINDING_SYSTEM, finding_key)


def transaction_bundle(entries: Sequence[FhirJson]) -> dict[str, Any]:
    """A transaction Bundle of `entries`, in the order given.

    Raises:
        ValueError: two entries with one fullUrl (a resource written twice), or a urn:uuid
            reference to no entry of the bundle (the server could not resolve it).
    """
    urls = Counter(entry["fullUrl"] for entry in entries)
    dupes = sorted(url for url, count in urls.items() if count > 1)
    if dupes:
        raise ValueError(f"entries written twice: {', '.join(dupes)}")
    known = set(urls)
    for index, entry in enumerate(entries):
        for ref in _references(entry["resource"]):
            if ref.startswith("urn:uuid:") and ref not in known:
                raise ValueError(f"entry[{index}] refers to {ref}, which is not in the bundle")
    return {"resourceType": "Bundle", "type": "transaction", "entry": [dict(e) for e in entries]}


def _check_key(resource: FhirJson, system: str, value: str) -> str:
    rtype = str(resource.get("resourceType"))
    if rtype == "Provenance":
        keys = resource.get("meta", {}).get("tag", [])
        found = any(k.get("system") == system and k.get("code") == value for k in keys)
    else:
        keys = resource.get("identifier", [])
        found = any(k.get("system") == system and k.get("value") == value for k in keys)
    if not found:
        raise ValueError(f"{rtype} does not carry the key {system}|{value}")
    return rtype


def _references(node: Any) -> Iterator[str]:
    # Every Reference.reference in a resource, however deep (extensions included).
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)
