"""Every reconciliation rule on the example data: it fires where its scenario says, and its
wording is what a clinician can act on (authority named, a coordination step, no advice to
stop opioid use disorder treatment, FDA 2017)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fhirbridge.cli import main
from fhirbridge.reconciliation import RULE_PARAMS
from tests.example_expectations import EXPECTED

# Where a detail cites its authority (the full reference is in the finding's `authority`).
CITATION = re.compile(r"FDA|CDC|Krantz|label|HEDIS|NPSG|DUPTHPY|HEDIS APC|local policy")
MOUD_DRUGS = ("buprenorphine", "methadone", "naltrexone")


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    root = tmp_path_factory.mktemp("examples")
    out = root / "out"
    args = ["run", "--as-of", "2026-06-30", "--out", str(out), "--db", f"sqlite:///{root / 'db'}"]
    assert main([*args, "--target", "none"]) == 0
    lines = (Path(out) / "findings.ndjson").read_text().splitlines()
    return [f for f in map(json.loads, lines) if f["rule"] in RULE_PARAMS]


def test_each_rule_fires_exactly_on_its_scenarios(findings: list[dict[str, object]]) -> None:
    expected = {
        (p["patient"], f["rule"])
        for p in EXPECTED["patients"]
        for f in p["findings"]
        if f["rule"] in RULE_PARAMS
    }
    assert {(f["patient"], f["rule"]) for f in findings} == expected
    assert {rule for _, rule in expected} == set(RULE_PARAMS)  # every rule has a scenario


def test_wording(findings: list[dict[str, object]]) -> None:
    for finding in findings:
        summary, detail = str(finding["summary"]), str(finding["detail"])
        assert len(summary) < 140, finding["rule"]
        assert "Patient/" not in summary  # never a patient reference, let alone a name
        assert CITATION.search(detail), finding["rule"]
        assert "Suggested step" in detail, finding["rule"]
        assert finding["authority"], finding["rule"]
        text = f"{summary} {detail}".lower()
        if any(drug in text for drug in MOUD_DRUGS):
            # "do not stop MOUD" is the only "stop" allowed next to MOUD.
            assert "stop" not in text.replace("do not stop", ""), finding["rule"]


def test_findings_name_prescribers_with_their_roles(findings: list[dict[str, object]]) -> None:
    roles = re.compile(r"Practitioner/[\w-]+ \((psychiatric|addiction|primary-care|other)\)")
    for finding in findings:
        for prescriber in finding["prescribers"]:  # type: ignore[attr-defined]
            assert roles.search(str(finding["detail"])), finding["rule"]
            assert f"{prescriber} (" in str(finding["detail"]), finding["rule"]
