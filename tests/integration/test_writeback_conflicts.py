"""Updates carry `If-Match` on the version the ledger last saw; a 412 is resolved by re-reading,
never by a blind overwrite: if the server's copy already says what fhirbridge would write it is
adopted (no new version), else fhirbridge's content goes onto the version just read.

Constructed patient ex-pt-92 (tests/writeback_support.chart: buprenorphine fills
of 30 days on -179, -119, -59, -29; PDC 120 / 180 = 0.6667). The finding's content then changes:
a 10-day fill on day -89 (same order, so the same finding key) covers -89..-80, PDC 130 / 180 =
0.7222, still below 0.80, so its DetectedIssue (summary and detail) and CarePlan change.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from fhirbridge.cli import main
from fhirbridge.examples.catalog import DRUGS
from tests.fhir_loading import search_all
from tests.writeback_support import (
    FHIR_JSON,
    RacyProxy,
    chart,
    history_length,
    prepare,
    running,
    write_folder,
    writeback,
)

pytestmark = pytest.mark.fhir_server


def _issue(url: str) -> dict[str, Any]:
    (issue,) = search_all(url, "DetectedIssue?patient=Patient/ex-pt-92")
    return issue


def _refill(tmp: Path, common: list[str]) -> None:
    """The extra 10-day fill, synced and analyzed (the store's findings change)."""
    c = chart(92)
    c.dispense("MedicationRequest/ex-mr-92-1", DRUGS["bupnal"], -89, "pharm-a", 10)
    (tmp / "data").rename(tmp / "data-before")
    write_folder(tmp / "data", [c])
    assert main(["sync", "--source", str(tmp / "data"), *common]) == 0
    assert main(["analyze", "--out", str(tmp / "analysis2"), *common]) == 0


def test_a_412_after_someone_else_changed_it_writes_ours_on_the_version_read(
    fhir_base_url: str, tmp_path: Path
) -> None:
    common = prepare(tmp_path, [chart(92)])
    with running(RacyProxy(upstream=fhir_base_url)) as proxy:  # one target URL for the ledger
        writeback(proxy.base_url, common, tmp_path / "out1")
        # A clinician edits the DetectedIssue on the server: the ledger's version is now stale.
        edited = {**_issue(fhir_base_url), "detail": "Edited in the EHR"}
        response = requests.put(
            f"{fhir_base_url}/DetectedIssue/{edited['id']}",
            json=edited,
            headers={"Content-Type": FHIR_JSON},
            timeout=30,
        )
        assert response.status_code == 200
        _refill(tmp_path, common)
        proxy.log.clear()
        second = writeback(proxy.base_url, common, tmp_path / "out2")
    assert second["written"]["DetectedIssue"] == {"updated": 1}
    path = f"/DetectedIssue/{edited['id']}"
    # PUT with the stale If-Match → 412; GET (re-read); PUT with the version just read → 200.
    assert [(m, s) for m, p, s in proxy.log if p == path] == [
        ("PUT", 412),
        ("GET", 200),
        ("PUT", 200),
    ]
    issue = _issue(fhir_base_url)
    assert issue["id"] == edited["id"]
    assert "0.72" in issue["detail"]  # ours: PDC 130 / 180
    assert history_length(fhir_base_url, "DetectedIssue", issue["id"]) == 3


def test_a_412_where_the_server_already_has_our_content_is_adopted(
    fhir_base_url: str, tmp_path: Path
) -> None:
    common = prepare(tmp_path, [chart(92)])
    with running(RacyProxy(upstream=fhir_base_url)) as proxy:
        writeback(proxy.base_url, common, tmp_path / "out1")
        # A copy of the database as it was then (a restored backup, or a second deployment).
        restored = tmp_path / "restored.db"
        with sqlite3.connect(tmp_path / "fb.db") as source, sqlite3.connect(restored) as copy:
            source.backup(copy)
        _refill(tmp_path, common)
        second = writeback(proxy.base_url, common, tmp_path / "out2")
        assert second["written"]["DetectedIssue"] == {"updated": 1}
        after_update = _issue(fhir_base_url)

        # The restored ledger holds the first version; the server already has the new content.
        old = [*common[:3], f"sqlite:///{restored}", *common[4:]]
        assert main(["sync", "--source", str(tmp_path / "data"), *old]) == 0
        assert main(["analyze", "--out", str(tmp_path / "analysis3"), *old]) == 0
        proxy.log.clear()
        third = writeback(proxy.base_url, old, tmp_path / "out3")
    assert third["written"]["DetectedIssue"] == {"adopted": 1}
    path = f"/DetectedIssue/{after_update['id']}"
    assert [(m, s) for m, p, s in proxy.log if p == path] == [("PUT", 412), ("GET", 200)]
    assert _issue(fhir_base_url)["meta"]["versionId"] == after_update["meta"]["versionId"]
    assert history_length(fhir_base_url, "DetectedIssue", after_update["id"]) == 2
