"""The incremental sync state in the store (cursors, export jobs, versions held), on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import Engine

from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.store.cursors import SqlCursors

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _row(rid: str, version: str | None, updated: str | None) -> dict[str, object]:
    return {
        "resource_type": "Observation",
        "resource_id": rid,
        "version_id": version,
        "last_updated": updated,
        "patient_id": "Patient/1",
        "source": "ehr",
        "run_id": None,
        "body": b"{}",
    }


def test_cursors_per_source_and_type(engine: Engine) -> None:
    cursors = SqlCursors(engine)
    assert cursors.get("north", "Observation") is None
    cursors.put("north", "Observation", "2026-03-01T10:00:00.000Z", NOW)
    cursors.put("north", "Observation", "2026-03-01T11:00:00.000Z", NOW)  # moved on
    cursors.put("south", "Observation", "2026-02-01T00:00:00.000Z", NOW)
    assert cursors.all("north") == {"Observation": "2026-03-01T11:00:00.000Z"}
    assert cursors.get("south", "Observation") == "2026-02-01T00:00:00.000Z"


def test_known_versions_for_de_duplication(engine: Engine) -> None:
    SqlStore(engine).put_resources(
        [_row("a", "1", "2026-03-01T10:00:00Z"), _row("b", None, "2026-03-01T10:00:01Z")]
    )
    ids = ["a", "b", "c", *(f"x{n}" for n in range(1200))]  # more than one IN (...) chunk
    assert SqlCursors(engine).known_versions("Observation", ids) == {
        "a": ("1", "2026-03-01T10:00:00Z"),
        "b": (None, "2026-03-01T10:00:01Z"),
    }
    assert SqlCursors(engine).known_versions("Patient", ["a"]) == {}


def test_export_job_lifecycle(engine: Engine) -> None:
    cursors = SqlCursors(engine)
    assert cursors.export_job("ehr") is None
    cursors.export_started("ehr", "https://ehr/$export-status/1", "2026-01-01T00:00:00Z", NOW)
    cursors.export_manifest("ehr", b'{"output": []}', NOW)
    cursors.export_file_done("ehr", "https://ehr/f/2", NOW)
    cursors.export_file_done("ehr", "https://ehr/f/1", NOW)
    cursors.export_file_done("ehr", "https://ehr/f/1", NOW)  # once only
    job = cursors.export_job("ehr")
    assert job is not None
    assert (job.status_url, job.since, job.manifest) == (
        "https://ehr/$export-status/1",
        "2026-01-01T00:00:00Z",
        '{"output": []}',
    )
    assert orjson.loads(job.files_done) == ["https://ehr/f/1", "https://ehr/f/2"]
    cursors.export_finished("ehr")
    assert cursors.export_job("ehr") is None
