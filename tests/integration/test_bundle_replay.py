"""writeback-bundle.json against the real FHIR server: accepted, and POSTing it twice changes
nothing the second time (the same resources, one per identifier, same content).

The test server (Medplum's router) refuses transactions of more than 8 entries that contain
conditional requests ("requires strict isolation"), so the file's entries are posted as one
transaction per patient, in file order: every urn:uuid reference stays inside its patient's
group (a Flag and its DetectedIssues, a Provenance and its targets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from fhirbridge.cli import main
from tests.e2e.test_run_fhir_server import _normalised, _server_state
from tests.fhir_loading import JSON

pytestmark = pytest.mark.fhir_server


def _patient_of(entry: dict[str, Any]) -> str:
    resource = entry["resource"]
    if resource["resourceType"] == "Provenance":
        return str(entry["_patient"])
    return str((resource.get("patient") or resource.get("subject"))["reference"])


def _post(url: str, bundle: bytes) -> list[str]:
    entries = orjson.loads(bundle)["entry"]
    groups: dict[str, list[dict[str, Any]]] = {}
    owner: dict[str, str] = {}
    for entry in entries:
        if entry["resource"]["resourceType"] != "Provenance":
            owner[entry["fullUrl"]] = _patient_of(entry)
    for entry in entries:
        if entry["resource"]["resourceType"] == "Provenance":
            entry["_patient"] = owner[entry["resource"]["target"][0]["reference"]]
        groups.setdefault(_patient_of(entry), []).append(entry)
    statuses: list[str] = []
    for group in groups.values():
        for entry in group:
            entry.pop("_patient", None)
        body = {"resourceType": "Bundle", "type": "transaction", "entry": group}
        response = requests.post(url, data=orjson.dumps(body), headers=JSON, timeout=60)
        assert response.status_code == 200, response.text[:500]
        statuses.extend(entry["response"]["status"] for entry in response.json()["entry"])
    return statuses


def test_bundle_replay_is_idempotent(fhir_base_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--as-of",
                "2026-06-30",
                "--out",
                str(out),
                "--db",
                f"sqlite:///{tmp_path / 'fb.db'}",
            ]
        )
        == 0
    )
    bundle = (out / "writeback-bundle.json").read_bytes()

    first = _post(fhir_base_url, bundle)
    assert set(first) == {"201"}
    state = _server_state(fhir_base_url)
    second = _post(fhir_base_url, bundle)
    # Every conditional create matched and every conditional update found its resource: 200.
    assert set(second) == {"200"}
    again = _server_state(fhir_base_url)
    # One resource per entry of the file (the counts follow the example data's findings).
    in_file: dict[str, int] = {}
    for entry in orjson.loads(bundle)["entry"]:
        rtype = entry["resource"]["resourceType"]
        if rtype != "Provenance":
            in_file[rtype] = in_file.get(rtype, 0) + 1
    assert {t: len(rs) for t, rs in again.items()} == in_file
    assert _normalised(again) == _normalised(state)
    # The Flag's flag-detail points at the DetectedIssue the server holds, not a urn:uuid.
    issue_ids = {f"DetectedIssue/{r['id']}" for r in again["DetectedIssue"]}
    details: list[Any] = [
        e["valueReference"]["reference"] for f in again["Flag"] for e in f["extension"]
    ]
    assert details
    assert set(details) <= issue_ids
