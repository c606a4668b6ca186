"""The store on SQLite and, when FHIRBRIDGE_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from fhirbridge.examples import DATA_DIR
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.store import LedgerEntry, SqlStore, make_engine, upgrade
from fhirbridge.sync import Ingest, read_files

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    yield SqlStore(engine)
    engine.dispose()


def _row(
    rtype: str,
    rid: str,
    last_updated: str | None,
    patient: str | None = "Patient/p1",
    **body: object,
) -> dict[str, object]:
    resource = {"resourceType": rtype, "id": rid, **body}
    return {
        "resource_type": rtype,
        "resource_id": rid,
        "version_id": None,
        "last_updated": last_updated,
        "patient_id": patient,
        "source": "test",
        "run_id": None,
        "body": orjson.dumps(resource),
    }


def test_schema_is_migrated(store: SqlStore) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "raw_resource",
        "run",
        "dead_letter",
        "finding",
        "writeback_ledger",
        "sync_cursor",
        "alembic_version",
    } <= tables


def test_migrations_build_the_schema_the_tables_declare(store: SqlStore) -> None:
    # Tables, columns and indexes (the stored records' generation index included).
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    indexes = {
        i["name"]
        for table in ("stored_records", "finding")
        for i in inspect(store.engine).get_indexes(table)
    }
    assert {"ix_stored_records_generation_patient", "ix_finding_state"} <= indexes


def test_newest_version_wins_and_duplicates_in_a_batch_are_fine(store: SqlStore) -> None:
    store.put_resources(
        [
            _row("Observation", "o1", "2025-01-02T00:00:00Z", status="final"),
            _row("Observation", "o1", "2025-01-02T00:00:00Z", status="final"),
        ]
    )
    store.put_resources(
        [_row("Observation", "o1", "2025-01-01T00:00:00Z", status="preliminary")]
    )  # older
    assert [r["status"] for r in store.resources_of_type("Observation")] == ["final"]
    store.put_resources(
        [_row("Observation", "o1", "2025-01-03T00:00:00Z", status="amended")]
    )  # newer
    assert [r["status"] for r in store.resources_of_type("Observation")] == ["amended"]
    assert store.count_resources() == {"Observation": 1}


def test_resources_come_grouped_by_patient(store: SqlStore) -> None:
    store.put_resources(
        [
            _row("MedicationRequest", "m2", None, "Patient/b"),
            _row("MedicationRequest", "m1", None, "Patient/a"),
            _row("Observation", "o1", None, "Patient/a"),
            _row("Practitioner", "x", None, None),
        ]
    )
    grouped = [
        (p, sorted(r["id"] for r in rs))
        for p, rs in store.resources_by_patient(["MedicationRequest", "Observation"])
    ]
    assert grouped == [("Patient/a", ["m1", "o1"]), ("Patient/b", ["m2"])]


def test_dead_letters_are_kept_once_per_input_and_reason(store: SqlStore) -> None:
    row = {
        "fingerprint": "f" * 64,
        "run_id": None,
        "source": "s",
        "location": "a.ndjson:3",
        "resource_type": None,
        "resource_id": None,
        "reason": "not valid JSON",
        "body": b"{",
        "created_at": NOW,
    }
    store.put_dead_letters([row])
    store.put_dead_letters([row])
    assert [(d.reason, d.body) for d in store.dead_letters()] == [("not valid JSON", b"{")]


def _finding(patient: str, ref: str) -> Finding:
    return Finding(
        rule="pdc-below-threshold",
        category=Category.ADHERENCE,
        severity=Severity.MODERATE,
        patient=patient,
        summary="s",
        detail="d",
        implicated=(ref,),
        authority="a",
        as_of=date(2025, 3, 31),
    )


def test_findings_open_refresh_and_resolve_within_scope(store: SqlStore) -> None:
    a1, b1 = (
        _finding("Patient/a", "MedicationRequest/1"),
        _finding("Patient/b", "MedicationRequest/2"),
    )
    assert store.record_findings([a1, b1], date(2025, 3, 1)) == []
    # Next run sees only patient a, with a different finding: a1 resolves, b1 is out of scope.
    a2 = _finding("Patient/a", "MedicationRequest/3")
    resolved = store.record_findings([a2], date(2025, 3, 2), patients=["Patient/a"])
    assert [r.key for r in resolved] == [a1.key]
    status = {r.key: (r.status, r.first_seen, r.resolved_on) for r in store.findings()}
    assert status == {
        a1.key: ("resolved", date(2025, 3, 1), date(2025, 3, 2)),
        a2.key: ("open", date(2025, 3, 2), None),
        b1.key: ("open", date(2025, 3, 1), None),
    }
    # a1 comes back: the same row reopens, first_seen kept, a new episode opened on 3/3.
    store.record_findings([a1, a2], date(2025, 3, 3), patients=["Patient/a"])
    rows = {r.key: r for r in store.findings(patient="Patient/a")}
    assert {
        k: (r.status, r.first_seen, r.last_seen, r.opened_on, r.resolved_on)
        for k, r in rows.items()
    } == {
        a1.key: ("open", date(2025, 3, 1), date(2025, 3, 3), date(2025, 3, 3), None),
        a2.key: ("open", date(2025, 3, 2), date(2025, 3, 3), date(2025, 3, 2), None),
    }
    # The body is the findings.ndjson line, and a refresh replaces it.
    assert Finding.from_line(rows[a1.key].body) == a1
    a2_later = replace(a2, as_of=date(2025, 3, 4))
    store.record_findings([a1, a2_later], date(2025, 3, 4), patients=["Patient/a"])
    bodies = {r.key: Finding.from_line(r.body) for r in store.findings(patient="Patient/a")}
    assert bodies == {a1.key: a1, a2.key: a2_later}


def test_ledger_upserts_by_target_type_identifier(store: SqlStore) -> None:
    entry = LedgerEntry(
        target="http://x",
        resource_type="Flag",
        identifier="urn:s|v",
        server_id="1",
        version_id="a",
        content_hash="h1",
        updated_at=NOW,
    )
    store.ledger_put(entry)
    store.ledger_put(
        LedgerEntry(
            target="http://x",
            resource_type="Flag",
            identifier="urn:s|v",
            server_id="1",
            version_id="b",
            content_hash="h2",
            updated_at=NOW,
        )
    )
    got = store.ledger_get("http://x", "Flag", "urn:s|v")
    assert got is not None
    assert (got.version_id, got.content_hash) == ("b", "h2")
    assert len(store.ledger()) == 1
    assert store.ledger_get("http://y", "Flag", "urn:s|v") is None


def test_ingest_of_the_example_data(store: SqlStore) -> None:
    ctx = MappingContext(terminology=load_terminology())
    counts = Ingest(store, ctx, source="examples", run_id=None, now=NOW, batch_size=50).add_all(
        read_files(DATA_DIR)
    )
    assert counts.dead_lettered == 1
    assert sum(counts.stored.values()) == sum(counts.read.values()) - 1
    assert store.count_resources()["MedicationDispense"] == 175
    assert [d.resource_id for d in store.dead_letters()] == ["ex-mr-27-2"]


def test_findings_recorded_in_parts_resolve_only_what_no_part_brought(store: SqlStore) -> None:
    a1, a2, b1 = (
        _finding("Patient/a", "MedicationRequest/1"),
        _finding("Patient/a", "MedicationRequest/2"),
        _finding("Patient/b", "MedicationRequest/3"),
    )
    store.record_findings([a1, a2, b1], date(2025, 3, 1))
    # Next run in two parts: a1 in the first, b1 in the second; a2 in neither resolves.
    with store.recording_findings(date(2025, 3, 2), ["Patient/a", "Patient/b"]) as recorder:
        recorder.add([a1])
        recorder.add([b1], suppressed=[b1.key])
    assert recorder.resolved == [a2.key]
    assert {r.key: (r.status, r.last_seen) for r in store.findings()} == {
        a1.key: ("open", date(2025, 3, 2)),
        a2.key: ("resolved", date(2025, 3, 1)),
        b1.key: ("suppressed", date(2025, 3, 2)),
    }


def test_a_run_that_fails_while_recording_records_nothing(store: SqlStore) -> None:
    a1, a2 = (
        _finding("Patient/a", "MedicationRequest/1"),
        _finding("Patient/a", "MedicationRequest/2"),
    )
    store.record_findings([a1], date(2025, 3, 1))

    def failing_run() -> None:
        with store.recording_findings(date(2025, 3, 2), ["Patient/a"]) as recorder:
            recorder.add([a2])
            raise RuntimeError("a worker failed")

    with pytest.raises(RuntimeError):
        failing_run()
    assert {r.key: (r.status, r.last_seen) for r in store.findings()} == {
        a1.key: ("open", date(2025, 3, 1))
    }
