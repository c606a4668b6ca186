"""The example data's own expectations (fhirbridge/examples/expected.json, written with the
scenarios) compared with what a run found, for every rule fhirbridge implements."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fhirbridge.analysis import RULES
from fhirbridge.examples import DATA_DIR

EXPECTED = json.loads((DATA_DIR.parent / "expected.json").read_text())


def expected_findings() -> set[tuple[str, str]]:
    """(patient, rule) the scenarios are built to raise, for implemented rules."""
    return {
        (p["patient"], f["rule"])
        for p in EXPECTED["patients"]
        for f in p["findings"]
        if f["rule"] in RULES
    }


def mismatches(findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """Differences between findings.ndjson lines and the scenarios' expectations: missing or
    unexpected (patient, rule), and wrong severities where a scenario fixes one."""
    found = {(f["patient"], f["rule"]): f["severity"] for f in findings}
    problems = [f"missing {p} {r}" for p, r in sorted(expected_findings() - found.keys())]
    problems += [
        f"unexpected {p} {r}"
        for p, r in sorted(found.keys() - expected_findings())
        if p.startswith("Patient/ex-")
    ]
    for patient in EXPECTED["patients"]:
        for f in patient["findings"]:
            got = found.get((patient["patient"], f["rule"]))
            if f["severity"] and got and got != f["severity"]:
                problems.append(
                    f"{patient['patient']} {f['rule']}: severity {got}, expected {f['severity']}"
                )
    return problems


def expected_adherence() -> list[dict[str, Any]]:
    """adherence.ndjson lines the scenarios define (as of the reference date), sorted."""
    lines = [a for p in EXPECTED["patients"] for a in p["adherence"]]
    return sorted(lines, key=lambda a: (a["patient"], a["group"]))
