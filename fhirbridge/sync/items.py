"""Sync: what every source yields, and the reference rewriting Bundles need."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Received:
    """One resource as received, with where it came from (a file and line, or a URL path)."""

    resource: dict[str, Any]
    raw: bytes | None  # the exact bytes when the source had them (an NDJSON line)
    location: str

    def body(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.resource)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Input that is not a resource at all (a truncated line, a file that is not JSON)."""

    raw: bytes
    location: str
    reason: str


SourceItem = Received | Unreadable


def bundle_resources(bundle: Mapping[str, Any], location: str) -> Iterator[SourceItem]:
    """The resources of a Bundle of any type, with `urn:uuid:` references made relative.

    Transaction Bundles (Synthea's, for one) give entries no id and link them by fullUrl
    `urn:uuid:<uuid>`; a server would assign ids and rewrite the references
    (hl7.org/fhir/R4/bundle.html#references). A file source does the same, using the uuid as id,
    so references resolve as they would on a server.
    """
    entries = [e for e in bundle.get("entry") or () if isinstance(e, Mapping)]
    rewrites: dict[str, str] = {}
    for entry in entries:
        resource = entry.get("resource")
        full_url = entry.get("fullUrl")
        if not isinstance(resource, Mapping) or not isinstance(full_url, str):
            continue
        rtype = resource.get("resourceType")
        rid = resource.get("id") or (
            full_url.rsplit(":", 1)[-1] if full_url.startswith("urn:uuid:") else None
        )
        if isinstance(rtype, str) and rid:
            rewrites[full_url] = f"{rtype}/{rid}"
    for index, entry in enumerate(entries):
        resource = entry.get("resource")
        where = f"{location}#entry[{index}]"
        if not isinstance(resource, dict):
            continue  # a DELETE or GET request entry carries no resource
        if not resource.get("id") and rewrites.get(str(entry.get("fullUrl"))):
            resource["id"] = rewrites[str(entry["fullUrl"])].split("/", 1)[1]
        if rewrites:
            _rewrite_references(resource, rewrites)
        yield Received(resource=resource, raw=None, location=where)


def _rewrite_references(node: Any, rewrites: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in rewrites:
            node["reference"] = rewrites[ref]
        for value in node.values():
            if isinstance(value, dict | list):
                _rewrite_references(value, rewrites)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, dict | list):
                _rewrite_references(value, rewrites)
