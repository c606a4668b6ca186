"""Incremental sync against the real FHIR test server: updates, late commits, shifting pages,
patient-scoped pulls, and two tenants on one database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.settings import Connection
from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.sync.connections import pull_all
from fhirbridge.sync.incremental import ALL_TYPES
from tests.fault_proxy import fault_proxy
from tests.sync_support import (
    JSON,
    cursors,
    generated,
    put_all,
    server_versions,
    stored_versions,
)

pytestmark = pytest.mark.fhir_server


def _sync(db_url: str, *connections: Connection) -> dict[str, Any]:
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        return pull_all(
            list(connections),
            SqlStore(engine),
            MappingContext(terminology=load_terminology()),
            run_id=None,
            now=lambda: datetime.now(UTC),
        ).as_report()
    finally:
        engine.dispose()


def _seed(base_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    """Store a resource with the meta.lastUpdated we give it (test server's `$seed`)."""
    response = requests.post(
        f"{base_url}/$seed", data=orjson.dumps(resource), headers=JSON, timeout=30
    )
    response.raise_for_status()
    stored: dict[str, Any] = response.json()
    return stored


def _observation(id_: str, patient: str, value: int, last_updated: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-05-01",
        "valueQuantity": {"value": value, "unit": "{score}"},
        "meta": {"lastUpdated": last_updated},
    }


def _instant(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def test_an_update_and_a_late_commit_are_picked_up_but_not_one_older_than_the_window(
    fhir_base_url: str, tmp_path: Path
) -> None:
    put_all(fhir_base_url, generated(patients=3, per_patient=4))  # 3 + 3 + 12 resources
    db = f"sqlite:///{tmp_path / 'db.db'}"
    ehr = Connection(name="ehr", base_url=fhir_base_url, page_size=5)
    first = _sync(db, ehr)
    assert first["resources_stored"] == {"MedicationRequest": 3, "Observation": 12, "Patient": 3}
    cursor = datetime.fromisoformat(cursors(db)[("ehr", "Observation")])

    # Between runs: one Observation updated (a new version), one committed "late" (2 minutes
    # behind the cursor: inside the 5-minute window) and one 10 minutes behind (outside it).
    old = requests.get(f"{fhir_base_url}/Observation/go1-2", headers=JSON, timeout=30).json()
    changed = {**old, "valueQuantity": {"value": 21}}
    updated = requests.put(
        f"{fhir_base_url}/Observation/go1-2", data=orjson.dumps(changed), headers=JSON, timeout=30
    ).json()
    assert updated["meta"]["versionId"] != old["meta"]["versionId"]
    late = _seed(
        fhir_base_url, _observation("late", "gp0", 9, _instant(cursor - timedelta(minutes=2)))
    )
    too_late = _seed(
        fhir_base_url, _observation("too-late", "gp0", 9, _instant(cursor - timedelta(minutes=10)))
    )

    second = _sync(db, ehr)
    stored = stored_versions(db)
    assert ("Observation", "go1-2", updated["meta"]["versionId"]) in stored
    assert ("Observation", "go1-2", old["meta"]["versionId"]) not in stored  # one row per id
    assert ("Observation", "late", late["meta"]["versionId"]) in stored
    # The window's limit, exactly: 10 minutes behind a cursor is beyond a 5-minute overlap.
    assert not any(r[1] == "too-late" for r in stored)
    assert too_late["meta"]["versionId"]
    # Second run: the window re-read everything written in the last 5 minutes and stored only
    # the two new versions; the 11 unchanged Observations (12 - the updated one), 3 orders and
    # 3 Patients were duplicates.
    assert second["resources_stored"] == {"Observation": 2}
    assert second["duplicates_at_sync"] == {"MedicationRequest": 3, "Observation": 11, "Patient": 3}
    # Everything the server holds, except the resource committed beyond the window.
    truth = server_versions(fhir_base_url, ALL_TYPES)
    assert stored == {r for r in truth if r[1] != "too-late"}


def test_pages_that_shift_while_paging_are_read_again(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=1, per_patient=30))  # 30 Observations, 3 pages
    db = f"sqlite:///{tmp_path / 'db.db'}"
    changes: list[str] = []

    def meanwhile(method: str, path: str) -> None:
        # While the client asks for page 2 of the Observation search, another client updates an
        # Observation from page 1: it moves to the end, and offset paging skips the resource
        # that slides back onto page 1 (LinuxForHealth/FHIR #3590).
        page_2 = method == "GET" and path.startswith("/Observation?") and "_offset=10" in path
        if page_2 and not changes:
            changes.append("done")
            old = requests.get(f"{fhir_base_url}/Observation/go0-3", headers=JSON, timeout=30)
            body = {**old.json(), "valueQuantity": {"value": 26}}
            requests.put(
                f"{fhir_base_url}/Observation/go0-3",
                data=orjson.dumps(body),
                headers=JSON,
                timeout=30,
            ).raise_for_status()

    with fault_proxy(fhir_base_url, before=meanwhile) as proxy:
        report = _sync(db, Connection(name="ehr", base_url=proxy.url, page_size=10))
    assert changes == ["done"]
    observation = report["sync_connections"]["ehr"]["types"]["Observation"]
    assert observation["restarts"] == {"pages-shifted": 1}
    assert stored_versions(db) == server_versions(fhir_base_url, ALL_TYPES)


def test_a_group_pull_reads_only_its_members(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=4, per_patient=2))
    group = {
        "resourceType": "Group",
        "id": "cohort",
        "type": "person",
        "actual": True,
        "member": [
            {"entity": {"reference": "Patient/gp1"}},
            {"entity": {"reference": "Patient/gp3"}},
        ],
    }
    put_all(fhir_base_url, [group])
    db = f"sqlite:///{tmp_path / 'db.db'}"
    report = _sync(db, Connection(name="ehr", base_url=fhir_base_url, group="Group/cohort"))
    expected = {
        r
        for r in server_versions(fhir_base_url, ALL_TYPES)
        if r[1] in {f"gp{n}" for n in (1, 3)}
        or r[1] in {"gmr1", "gmr3"}
        or (r[0] == "Observation" and r[1].split("-")[0] in {"go1", "go3"})
    }
    assert stored_versions(db) == expected  # 2 Patients, 2 MedicationRequests, 4 Observations
    assert len(expected) == 8
    # Cursors are per connection and group, so another scope on this database starts afresh.
    assert {s for s, _ in cursors(db)} == {"ehr|Group/cohort"}
    assert report["sync_connections"]["ehr"]["types"]["Observation"]["stored"] == 4


def test_two_tenants_keep_their_own_cursors(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=2, per_patient=1))
    db = f"sqlite:///{tmp_path / 'db.db'}"
    with fault_proxy(fhir_base_url) as other:  # a second base URL for the same data
        report = _sync(
            db,
            Connection(name="north", base_url=fhir_base_url),
            Connection(name="south", base_url=other.url, page_size=1),
        )
    assert set(report["sync_connections"]) == {"north", "south"}
    assert {s for s, _ in cursors(db)} == {"north", "south"}
    # The second tenant read the same 6 resources and stored none twice.
    assert report["resources_stored"] == {"MedicationRequest": 2, "Observation": 2, "Patient": 2}
    assert report["duplicates_at_sync"] == {"MedicationRequest": 2, "Observation": 2, "Patient": 2}
