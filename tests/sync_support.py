"""Test-side helpers for the sync tests: generated data on the FHIR test server, store contents,
and `fhirbridge sync` as the operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import requests
from sqlalchemy import create_engine, select

from fhirbridge.store.tables import RawResource, SyncCursor

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def generated(patients: int, per_patient: int, prefix: str = "g") -> list[dict[str, Any]]:
    """Patients, each with `per_patient` Observations and one MedicationRequest (valid R4)."""
    resources: list[dict[str, Any]] = []
    for p in range(patients):
        pid = f"{prefix}p{p}"
        resources.append({"resourceType": "Patient", "id": pid, "gender": "female"})
        resources.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"{prefix}mr{p}",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "sertraline 50 mg tablet"},
                "subject": {"reference": f"Patient/{pid}"},
                "authoredOn": "2026-01-05",
            }
        )
        for o in range(per_patient):
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": f"{prefix}o{p}-{o}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "effectiveDateTime": f"2026-0{1 + o % 9}-15",
                    "valueQuantity": {"value": o % 27, "unit": "{score}"},
                }
            )
    return resources


def put_all(base_url: str, resources: list[dict[str, Any]], chunk: int = 500) -> None:
    """PUT resources by id in batch Bundles (ids are ours, so the clean set is known)."""
    for start in range(0, len(resources), chunk):
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources[start : start + chunk]
        ]
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
        response = requests.post(base_url, data=orjson.dumps(bundle), headers=JSON, timeout=120)
        response.raise_for_status()
        bad = [e for e in response.json()["entry"] if not e["response"]["status"].startswith("2")]
        assert bad == []


def server_resources(base_url: str, types: tuple[str, ...]) -> dict[tuple[str, str, str], str]:
    """(type, id, versionId) → meta.lastUpdated, for everything the server holds of `types`."""
    found: dict[tuple[str, str, str], str] = {}
    for rtype in types:
        url: str | None = f"{base_url}/{rtype}?_count=1000"
        while url:
            page = requests.get(url, headers=JSON, timeout=60).json()
            for entry in page.get("entry", []):
                r = entry["resource"]
                found[(rtype, r["id"], r["meta"]["versionId"])] = r["meta"]["lastUpdated"]
            url = next((k["url"] for k in page.get("link", []) if k["relation"] == "next"), None)
    return found


def server_versions(base_url: str, types: tuple[str, ...]) -> set[tuple[str, str, str]]:
    """Every (type, id, versionId) the server holds for `types`, read directly."""
    return set(server_resources(base_url, types))


def stored_versions(db_url: str) -> set[tuple[str, str, str | None]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(RawResource.resource_type, RawResource.resource_id, RawResource.version_id)  # type: ignore[call-overload]
            )
            return {(t, i, v) for t, i, v in rows}
    finally:
        engine.dispose()


def cursors(db_url: str) -> dict[tuple[str, str], str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(SyncCursor.source, SyncCursor.resource_type, SyncCursor.cursor)  # type: ignore[call-overload]
            )
            return {(s, t): c for s, t, c in rows}
    finally:
        engine.dispose()


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`fhirbridge ARGS` in a subprocess, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from fhirbridge.cli import console; console()", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
