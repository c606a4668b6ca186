"""The ehr-restricted profile against the real FHIR server: clinical notes (or messages to the
care team) only, never Flag, CarePlan or DetectedIssue; each note created once and accepted as
built (R4B-valid); a note when a finding's episode ends; a Provenance per write on behalf of the
configured organization; the security labels on everything.

Constructed patients (tests/writeback_support.chart): PDC 120 / 180 = 0.6667 as of 2026-06-30,
one pdc-below-threshold finding each (MOUD group: severity high).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirbridge.cli import main
from fhirbridge.examples.catalog import DRUGS
from fhirbridge.writeback.build import validate
from tests.fhir_loading import search_all
from tests.writeback_support import CONFIG, chart, on_server, prepare, write_folder, writeback

pytestmark = pytest.mark.fhir_server
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SECURITY = [
    {"system": ACT, "code": "PSY", "display": "psychiatry disorder information sensitivity"},
    {"system": ACT, "code": "ETH", "display": "substance abuse information sensitivity"},
]
ORGANIZATION = '[writeback]\norganization = "Organization/clinic-1"\n'


def _planned(out: Path, rtype: str) -> dict[str, dict[str, Any]]:
    """The resources of `rtype` in writeback-bundle.json, by their first identifier value."""
    bundle = orjson.loads((out / "writeback-bundle.json").read_bytes())
    return {
        e["resource"]["identifier"][0]["value"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == rtype
    }


def _as_sent(resource: dict[str, Any]) -> dict[str, Any]:
    """A server copy without what the server assigned (id, version, lastUpdated)."""
    meta = {k: v for k, v in resource["meta"].items() if k not in ("versionId", "lastUpdated")}
    return {**{k: v for k, v in resource.items() if k != "id"}, "meta": meta}


def test_notes_only_accepted_as_built_once_and_closed_when_the_finding_ends(
    fhir_base_url: str, tmp_path: Path
) -> None:
    common = prepare(tmp_path, [chart(92), chart(94)], config=CONFIG + ORGANIZATION)
    first = writeback(fhir_base_url, common, tmp_path / "out1", target="ehr-restricted")
    assert first["written"] == {"DocumentReference": {"created": 2}, "Provenance": {"created": 2}}
    assert first["write_errors"] == []
    assert on_server(fhir_base_url) == {
        "DocumentReference": ["Patient/ex-pt-92", "Patient/ex-pt-94"]
    }
    planned = _planned(tmp_path / "out1", "DocumentReference")
    notes = search_all(fhir_base_url, "DocumentReference?_count=50")
    for note in notes:
        assert _as_sent(note) == planned[note["identifier"][0]["value"]]  # exactly as built
        assert note["meta"]["security"] == SECURITY
        validate(note)
    # One Provenance per note: its version, fhirbridge's Device on behalf of the organization.
    provenance = search_all(fhir_base_url, "Provenance?_count=50")
    assert sorted(p["target"][0]["reference"] for p in provenance) == sorted(
        f"DocumentReference/{n['id']}/_history/{n['meta']['versionId']}" for n in notes
    )
    for prov in provenance:
        assert prov["agent"][0]["who"] == {"reference": "Device/fhirbridge"}
        assert prov["agent"][0]["onBehalfOf"] == {"reference": "Organization/clinic-1"}
        assert prov["meta"]["security"] == SECURITY
        validate(prov)
    # The bundle file holds the same notes, as conditional creates (these EHRs take no updates).
    bundle = orjson.loads((tmp_path / "out1" / "writeback-bundle.json").read_bytes())
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {
        "DocumentReference",
        "Provenance",
    }
    assert {e["request"]["method"] for e in bundle["entry"]} == {"POST"}

    second = writeback(fhir_base_url, common, tmp_path / "out2", target="ehr-restricted")
    assert second["written"] == {"DocumentReference": {"unchanged": 2}}

    # Patient 92 fills the gaps (-149 and -89): 6 x 30 = 180 of 180 days, adherent; the finding
    # resolves on the same day, and a closing note follows the opening one.
    c92 = chart(92)
    for offset in (-149, -89):
        c92.dispense("MedicationRequest/ex-mr-92-1", DRUGS["bupnal"], offset, "pharm-a", 30)
    (tmp_path / "data").rename(tmp_path / "data-before")
    write_folder(tmp_path / "data", [c92, chart(94)])
    assert main(["sync", "--source", str(tmp_path / "data"), *common]) == 0
    assert main(["analyze", "--out", str(tmp_path / "analysis2"), *common]) == 0
    third = writeback(fhir_base_url, common, tmp_path / "out3", target="ehr-restricted")
    assert third["written"] == {
        "DocumentReference": {"created": 1, "unchanged": 1},
        "Provenance": {"created": 1},
    }
    (closing,) = [
        n
        for n in search_all(fhir_base_url, "DocumentReference?subject=Patient/ex-pt-92")
        if n["identifier"][0]["value"].endswith(":resolved")
    ]
    assert closing["context"]["period"] == {"start": "2026-06-30", "end": "2026-06-30"}
    assert closing["identifier"][1] == next(
        n["identifier"][1] for n in notes if n["subject"]["reference"] == "Patient/ex-pt-92"
    )  # the same finding
    fourth = writeback(fhir_base_url, common, tmp_path / "out4", target="ehr-restricted")
    assert fourth["written"] == {"DocumentReference": {"unchanged": 2}}
    assert len(search_all(fhir_base_url, "DocumentReference?_count=50")) == 3


def test_messages_to_the_care_team(fhir_base_url: str, tmp_path: Path) -> None:
    config = (
        CONFIG
        + '[writeback.profiles.ehr-restricted]\nresource = "Communication"\n'
        + 'recipients = ["CareTeam/ct-1"]\n'
    )
    common = prepare(tmp_path, [chart(92)], config=config)
    first = writeback(fhir_base_url, common, tmp_path / "out1", target="ehr-restricted")
    assert first["written"] == {"Communication": {"created": 1}, "Provenance": {"created": 1}}
    assert on_server(fhir_base_url) == {"Communication": ["Patient/ex-pt-92"]}
    (message,) = search_all(fhir_base_url, "Communication?_count=10")
    assert _as_sent(message) == next(iter(_planned(tmp_path / "out1", "Communication").values()))
    # To the care team and the prescriber of the buprenorphine (its MedicationRequest.requester).
    assert message["recipient"] == [
        {"reference": "CareTeam/ct-1"},
        {"reference": "Practitioner/ex-prac-add-a"},
    ]
    assert (message["status"], message["priority"], message["sent"]) == (
        "completed",
        "urgent",
        "2026-06-30",
    )
    assert message["about"] == [{"reference": "MedicationRequest/ex-mr-92-1"}]
    validate(message)
