"""Test-side helpers that speak to the FHIR test server: load data, count by identifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import requests

from fhirbridge.examples import DATA_DIR

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def load_examples(base_url: str) -> list[str]:
    """PUT every example resource with its own id (a batch: a resource the server rejects,
    like the deliberate dead letter, does not stop the others). Returns the rejected refs."""
    entries = []
    for file in sorted(DATA_DIR.glob("*.ndjson")):
        for line in file.read_bytes().splitlines():
            resource = orjson.loads(line)
            ref = f"{resource['resourceType']}/{resource['id']}"
            entries.append({"resource": resource, "request": {"method": "PUT", "url": ref}})
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    response = requests.post(base_url, data=orjson.dumps(bundle), headers=JSON, timeout=120)
    response.raise_for_status()
    rejected = []
    for entry, result in zip(entries, response.json()["entry"], strict=True):
        if not str(result["response"]["status"]).startswith("2"):
            rejected.append(entry["request"]["url"])
    return rejected


def load_synthea(base_url: str, folder: Path) -> int:
    """POST every Synthea transaction Bundle as it is; returns the number of files."""
    files = sorted(p for p in folder.rglob("*.json") if p.name != "manifest.json")
    for file in files:
        response = requests.post(base_url, data=file.read_bytes(), headers=JSON, timeout=120)
        response.raise_for_status()
    return len(files)


def search_all(base_url: str, path: str) -> list[dict[str, Any]]:
    """Every resource of a search, following next links."""
    url: str | None = f"{base_url}/{path}"
    found: list[dict[str, Any]] = []
    while url:
        page = requests.get(url, headers=JSON, timeout=60).json()
        found.extend(
            e["resource"]
            for e in page.get("entry", [])
            if e.get("search", {}).get("mode", "match") == "match"
        )
        url = next(
            (link["url"] for link in page.get("link", []) if link["relation"] == "next"), None
        )
    return found


def by_identifier(resources: list[dict[str, Any]], system: str) -> dict[str, list[dict[str, Any]]]:
    """identifier value (of `system`) → the resources carrying it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        for identifier in resource.get("identifier", []):
            if identifier.get("system") == system:
                found.setdefault(identifier["value"], []).append(resource)
    return found
