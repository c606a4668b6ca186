"""The write-back lifecycle against the real FHIR server, with a constructed patient.

Patient ex-pt-91 (constructed here, not in the example dataset) takes buprenorphine/naloxone
(one order, 30-day fills) from an addiction prescriber and alprazolam (one order) from a
psychiatric prescriber. The clinical data is a Bulk-style NDJSON folder (`fhirbridge sync`);
`fhirbridge writeback --target fhir-full` writes to the test server, which holds only what
fhirbridge writes. Rules: pdc-below-threshold (a Flag concern) and opioid-benzodiazepine (no Flag
by design: build.FLAG_CONCERNS), so the Flag part of the lifecycle is the adherence finding's.

Days are offsets from 2026-06-30 (day 0). Fills of 30 days: buprenorphine on -179, -119, -59,
-29; alprazolam on -20.
- Run 1, as of day 0: PDC window [-364, 0], index -179, period 180 days, covered 4 x 30 = 120:
  0.6667 < 0.80 → pdc-below-threshold. Alprazolam -20..9 overlaps buprenorphine -29..0 on
  -20..0 (21 days, inside the 90-day lookback) → opioid-benzodiazepine.
- New buprenorphine fills on 1, 31, 61, 91, 121. Run 2, as of day 150 (2026-11-27): period
  -179..150 = 330 days, covered 9 x 30 = 270: 0.8182 → adherent. Lookback [61, 150] has no
  alprazolam (it ended on day 9): the benzodiazepine ended. Both findings resolve.
- New fills: buprenorphine on 191 (after a 40-day gap), alprazolam refilled on 185 (same order).
  Run 3, as of day 200 (2027-01-16): window [-164, 200] drops the -179 fill; index -119, period
  320 days, covered 8 x 30 + 10 (191..200) = 250: 0.7812 < 0.80. Lookback [111, 200]:
  alprazolam 185..214 overlaps buprenorphine 191..220 on 191..200. Both findings return, on the
  same prescriptions, so with the same keys.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirbridge.cli import main
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.examples.builders import Chart, pharmacy, practitioner, practitioner_role
from fhirbridge.examples.catalog import DRUGS, PHARMACIES, PRESCRIBERS
from tests.fhir_loading import search_all
from tests.writeback_support import history_length, report

pytestmark = pytest.mark.fhir_server
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
RULES = '[analysis]\nenabled_rules = ["pdc-below-threshold", "opioid-benzodiazepine"]\n'


def day(offset: int) -> str:
    return (REFERENCE_DATE + timedelta(days=offset)).isoformat()


class Story:
    """The constructed chart, written out as NDJSON files as it grows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.chart = Chart(91, "Robin", "Lifecycle", "female", "1984-02-11")
        self.bup = self.chart.order(DRUGS["bupnal"], "add-a", -179, supply=30, refills=11)
        self.alp = self.chart.order(DRUGS["alprazolam"], "psy", -20, supply=30, refills=2)
        self.fill(self.bup, "bupnal", -179, -119, -59, -29)
        self.fill(self.alp, "alprazolam", -20)
        self.shared = [
            *(practitioner(PRESCRIBERS[k]) for k in ("add-a", "psy")),
            *(practitioner_role(PRESCRIBERS[k]) for k in ("add-a", "psy")),
            pharmacy(PHARMACIES["pharm-a"]),
        ]

    def fill(self, order: str, drug: str, *offsets: int) -> None:
        for offset in offsets:
            self.chart.dispense(order, DRUGS[drug], offset, "pharm-a", 30)

    def write(self) -> None:
        self.folder.mkdir(exist_ok=True)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in [*self.shared, *(r for rs in self.chart.resources.values() for r in rs)]:
            by_type.setdefault(resource["resourceType"], []).append(resource)
        for rtype, resources in by_type.items():
            lines = b"".join(orjson.dumps(r) + b"\n" for r in resources)
            (self.folder / f"{rtype}.ndjson").write_bytes(lines)


def run(url: str, tmp: Path, story: Story, offset: int, name: str) -> dict[str, Any]:
    """sync the folder, analyze (into <name>-analysis), write back (into <name>), as of day
    `offset`; the write-back report with the analysis's findings counts added."""
    story.write()
    db, cfg = f"sqlite:///{tmp / 'fb.db'}", str(tmp / "fb.toml")
    common = ["--as-of", day(offset), "--db", db, "--config", cfg]
    assert main(["sync", "--source", str(story.folder), *common]) == 0
    assert main(["analyze", "--out", str(tmp / f"{name}-analysis"), *common]) == 0
    out = ["--out", str(tmp / name)]
    assert main(["writeback", "--source", url, "--target", "fhir-full", *out, *common]) == 0
    analysis = report(tmp / f"{name}-analysis")
    return {
        **report(tmp / name),
        "findings": analysis["findings"],
        "findings_resolved": analysis["findings_resolved"],
    }


def server(url: str) -> dict[str, list[dict[str, Any]]]:
    state = {
        t: search_all(url, f"{t}?subject=Patient/ex-pt-91&_tag=urn:fhirbridge:tag|fhirbridge")
        for t in ("Flag", "CarePlan")
    }
    state["DetectedIssue"] = search_all(url, "DetectedIssue?patient=Patient/ex-pt-91")
    return state


def issues_by_rule(state: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {d["code"]["coding"][1]["code"]: d for d in state["DetectedIssue"]}


def mitigation(code: str, display: str, on: str) -> list[dict[str, Any]]:
    return [
        {
            "action": {
                "coding": [{"system": ACT, "code": code, "display": display}],
                "text": "No longer present when fhirbridge re-evaluated the record",
            },
            "date": on,
            "author": {"reference": "Device/fhirbridge"},
        }
    ]


def test_a_finding_resolves_and_returns_on_the_same_resources(
    fhir_base_url: str, tmp_path: Path
) -> None:
    (tmp_path / "fb.toml").write_text(RULES)
    story = Story(tmp_path / "data")

    first = run(fhir_base_url, tmp_path, story, 0, "run1")
    assert first["findings"] == {"opioid-benzodiazepine": 1, "pdc-below-threshold": 1}
    adherence = [
        json.loads(x)
        for x in (tmp_path / "run1-analysis" / "adherence.ndjson").read_text().split("\n")
        if x
    ]
    assert [
        (a["group"], a["days_covered"], a["days_in_period"], a["adherent"]) for a in adherence
    ] == [("moud", 120, 180, False)]
    assert first["written"] == {
        "CarePlan": {"created": 1},
        "DetectedIssue": {"created": 2},
        "Flag": {"created": 1},
        "Provenance": {"created": 4},
    }
    state = server(fhir_base_url)
    ids = {t: sorted(r["id"] for r in rs) for t, rs in state.items()}
    assert {t: len(v) for t, v in ids.items()} == {"DetectedIssue": 2, "Flag": 1, "CarePlan": 1}
    (flag,) = state["Flag"]
    (plan,) = state["CarePlan"]
    assert (flag["status"], flag["period"]) == ("active", {"start": "2026-06-30"})
    assert flag["code"]["coding"][0]["code"] == "medication-adherence"
    assert (plan["status"], [a["detail"]["status"] for a in plan["activity"]]) == (
        "active",
        ["not-started", "not-started"],
    )
    assert all("mitigation" not in d for d in state["DetectedIssue"])
    keys = {r: d["identifier"][0]["value"] for r, d in issues_by_rule(state).items()}

    # The benzodiazepine ends and refills make adherence adequate: both findings resolve.
    story.fill(story.bup, "bupnal", 1, 31, 61, 91, 121)
    second = run(fhir_base_url, tmp_path, story, 150, "run2")
    assert second["findings"] == {}
    assert second["findings_resolved"] == 2
    assert second["written"] == {
        "CarePlan": {"updated": 1},
        "DetectedIssue": {"updated": 2},
        "Flag": {"updated": 1},
        "Provenance": {"created": 4},
    }
    state = server(fhir_base_url)
    assert {t: sorted(r["id"] for r in rs) for t, rs in state.items()} == ids  # same resources
    issues = issues_by_rule(state)
    assert issues["opioid-benzodiazepine"]["mitigation"] == mitigation(
        "7", "Interacting Therapy No Longer Active/Planned", "2026-11-27"
    )
    assert issues["pdc-below-threshold"]["mitigation"] == mitigation(
        "8", "Other Action Taken", "2026-11-27"
    )
    assert {d["identifiedDateTime"] for d in issues.values()} == {"2026-06-30"}
    (flag,) = state["Flag"]
    (plan,) = state["CarePlan"]
    assert (flag["status"], flag["period"]) == (
        "inactive",
        {"start": "2026-06-30", "end": "2026-11-27"},
    )
    assert (plan["status"], [a["detail"]["status"] for a in plan["activity"]]) == (
        "completed",
        ["completed", "completed"],
    )

    # A later `fhirbridge writeback` alone, from the store: nothing re-opened, nothing forgotten.
    db, cfg = f"sqlite:///{tmp_path / 'fb.db'}", str(tmp_path / "fb.toml")
    later = [
        "writeback",
        "--source",
        fhir_base_url,
        "--target",
        "fhir-full",
        "--db",
        db,
        "--config",
        cfg,
        "--as-of",
        day(160),
        "--out",
        str(tmp_path / "later"),
    ]
    assert main(later) == 0
    assert report(tmp_path / "later")["written"] == {
        "CarePlan": {"unchanged": 1},
        "DetectedIssue": {"unchanged": 2},
        "Flag": {"unchanged": 1},
    }

    # And back again: the same prescriptions, so the same findings and the same resources.
    story.fill(story.bup, "bupnal", 191)
    story.fill(story.alp, "alprazolam", 185)
    third = run(fhir_base_url, tmp_path, story, 200, "run3")
    assert third["findings"] == {"opioid-benzodiazepine": 1, "pdc-below-threshold": 1}
    state = server(fhir_base_url)
    assert {t: sorted(r["id"] for r in rs) for t, rs in state.items()} == ids
    issues = issues_by_rule(state)
    assert {r: d["identifier"][0]["value"] for r, d in issues.items()} == keys
    assert all("mitigation" not in d for d in issues.values())
    (flag,) = state["Flag"]
    (plan,) = state["CarePlan"]
    # Active again, from the day it came back (it was not active from day 150 to day 200).
    assert (flag["status"], flag["period"]) == ("active", {"start": "2027-01-16"})
    assert (plan["status"], [a["detail"]["status"] for a in plan["activity"]]) == (
        "active",
        ["not-started", "not-started"],
    )
    # Versions: created, resolved, returned (the unchanged run wrote nothing).
    for rtype, resources in state.items():
        assert {history_length(fhir_base_url, rtype, r["id"]) for r in resources} == {3}, rtype
    assert date.fromisoformat(flag["period"]["start"]) == REFERENCE_DATE + timedelta(days=200)
