"""End to end against the real FHIR test server: load the constructed example patients and the
Synthea patients, `fhirbridge run --target fhir-full`, and check exactly what the server holds.

Golden file: tests/data/golden/e2e/server-resources.json holds the written resources with
server-assigned fields removed and server ids replaced by the identifier they stand for.
Regenerate only on purpose: FHIRBRIDGE_UPDATE_GOLDEN=1 pytest tests/e2e, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirbridge.cli import main
from fhirbridge.writeback.build import concern_of
from tests.example_expectations import mismatches
from tests.fhir_loading import by_identifier, load_examples, load_synthea, search_all

pytestmark = pytest.mark.fhir_server
GOLDEN = (
    Path(__file__).resolve().parent.parent / "data" / "golden" / "e2e" / "server-resources.json"
)
FINDING = "urn:fhirbridge:finding"
WRITTEN_TYPES = ("DetectedIssue", "Flag", "CarePlan")


def _run(url: str, tmp_path: Path, as_of: str, out: str = "out") -> dict[str, Any]:
    code = main(
        [
            "run",
            "--source",
            url,
            "--target",
            "fhir-full",
            "--as-of",
            as_of,
            "--out",
            str(tmp_path / out),
            "--db",
            f"sqlite:///{tmp_path / 'fb.db'}",
        ]
    )
    assert code == 0
    report: dict[str, Any] = json.loads((tmp_path / out / "run-report.json").read_text())
    return report


def _server_state(url: str) -> dict[str, list[dict[str, Any]]]:
    return {
        t: search_all(url, f"{t}?_tag=urn:fhirbridge:tag|fhirbridge&_count=200")
        for t in WRITTEN_TYPES
    }


def _normalised(state: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Drop server-owned fields; replace server ids in references by the identifier behind them."""
    names = {
        f"{t}/{r['id']}": f"{t}[{r['identifier'][0]['value']}]"
        for t, rs in state.items()
        for r in rs
    }

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (names.get(v, v) if k == "reference" else clean(v))
                for k, v in node.items()
                if k != "id"
            }
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    out: dict[str, list[dict[str, Any]]] = {}
    for rtype, resources in state.items():
        cleaned = []
        for resource in resources:
            body = clean(resource)
            body["meta"] = {
                k: v for k, v in body["meta"].items() if k not in ("versionId", "lastUpdated")
            }
            cleaned.append(body)
        out[rtype] = sorted(cleaned, key=lambda r: r["identifier"][0]["value"])
    return out


def test_run_writes_exact_resources_once(
    fhir_base_url: str, synthea_dir: Path, tmp_path: Path
) -> None:
    assert load_examples(fhir_base_url) == [
        "MedicationRequest/ex-mr-27-2"
    ]  # the deliberate dead letter
    assert load_synthea(fhir_base_url, synthea_dir) == 52

    first = _run(fhir_base_url, tmp_path, "2026-06-30")
    assert first["patients_analyzed"] == 80  # 28 constructed + 52 Synthea
    assert first["write_errors"] == []
    findings = [
        json.loads(line) for line in (tmp_path / "out" / "findings.ndjson").read_text().splitlines()
    ]
    assert mismatches(findings) == []
    assert any(f["patient"].startswith("Patient/ex-") for f in findings)
    state = _server_state(fhir_base_url)
    # One DetectedIssue per finding, keyed by the finding key; one Flag per patient and concern
    # (adherence only: interactions are DetectedIssues, not Flags); one CarePlan per patient.
    issues = by_identifier(state["DetectedIssue"], FINDING)
    assert sorted(issues) == sorted(f["key"] for f in findings)
    flags = {
        f"{f['patient'].split('/')[1]}:{c.id}" for f in findings if (c := concern_of(f["rule"]))
    }
    assert sorted(r["identifier"][0]["value"] for r in state["Flag"]) == sorted(flags)
    plans = {f["patient"].split("/")[1] for f in findings}
    assert sorted(r["identifier"][0]["value"] for r in state["CarePlan"]) == sorted(plans)
    normalised = _normalised(state)
    if os.environ.get("FHIRBRIDGE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(normalised, indent=2, sort_keys=True) + "\n")
    assert normalised == json.loads(GOLDEN.read_text())

    # The same run again writes nothing: every resource unchanged, same versions on the server.
    second = _run(fhir_base_url, tmp_path, "2026-06-30", out="out2")
    assert second["written"] == {
        "CarePlan": {"unchanged": len(plans)},
        "DetectedIssue": {"unchanged": len(findings)},
        "Flag": {"unchanged": len(flags)},
    }
    again = _server_state(fhir_base_url)
    versions = {t: sorted(r["meta"]["versionId"] for r in rs) for t, rs in state.items()}
    assert {t: sorted(r["meta"]["versionId"] for r in rs) for t, rs in again.items()} == versions


def test_later_run_updates_in_place(fhir_base_url: str, tmp_path: Path) -> None:
    load_examples(fhir_base_url)
    _run(fhir_base_url, tmp_path, "2026-06-30")
    later = _run(fhir_base_url, tmp_path, "2026-07-10", out="later")
    assert later["write_errors"] == []
    state = _server_state(fhir_base_url)
    # Ten days on, PDC values changed (updates), and no identifier is held by two resources.
    for rtype, resources in state.items():
        counts: dict[str, int] = {}
        for resource in resources:
            key = resource["identifier"][0]["value"]
            counts[key] = counts.get(key, 0) + 1
        assert max(counts.values()) == 1, rtype
    assert later["written"]["DetectedIssue"].get("updated", 0) >= 1
    bundle = orjson.loads((tmp_path / "later" / "writeback-bundle.json").read_bytes())
    assert bundle["type"] == "transaction"
