"""Mapped records kept in the store (stored_mapping.py, store/stored_records.py), on SQLite and
PostgreSQL: sync maps what it brought once; analysis reads the stored records and gives the
same findings and measures as mapping the raw resources; a changed resource, a resource moved
to another patient, a changed terminology or a changed Medication makes the affected records
be mapped again, so a stale mapping is never analyzed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, select

from fhirbridge import analyze_stage
from fhirbridge.adherence import PdcResult
from fhirbridge.analysis import analyze_patient
from fhirbridge.bootstrap import build_services
from fhirbridge.mappers import MAPPERS, load_terminology
from fhirbridge.mappers.compact import Decoder, encode
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.services import Services
from fhirbridge.settings import Settings
from fhirbridge.store.stored_records import (
    put_stored_records,
    read_stored_records,
    stored_patients,
)
from fhirbridge.store.tables import StoredRecords
from fhirbridge.stored_mapping import mapping_generation

AS_OF = date(2026, 6, 30)
UCUM = "http://unitsofmeasure.org"


def _generation(services: Services) -> str:
    ctx = services._mapping_context()
    return mapping_generation(services.terminology, ctx.medications)


def _rows(services: Services) -> dict[str, str]:
    with services.store.engine.connect() as conn:
        query = select(StoredRecords.patient_id, StoredRecords.generation)  # type: ignore[call-overload]
        return {patient: generation for patient, generation in conn.execute(query)}


def _from_raw(services: Services) -> tuple[list[str], list[str]]:
    """Findings and measures as the stage made them before records were kept: map each
    patient's raw resources now and analyze."""
    ctx = services._mapping_context()
    prescribers = services._prescribers()
    findings, measures = [], []
    for patient, resources in services.store.resources_by_patient(MAPPERS):
        records, _ = to_patient_records(patient, resources, ctx, prescribers)
        analysis = analyze_patient(records, as_of=AS_OF, params=services.settings.analysis)
        findings += [f.key for f in analysis.findings]
        measures += [orjson.dumps(m.to_json()).decode() for m in analysis.adherence]
    return sorted(findings), sorted(measures)


def test_sync_keeps_mapped_records_and_analysis_reads_them(db_url: str) -> None:
    services = build_services(Settings(database_url=db_url))
    try:
        services.sync(None, AS_OF, None)  # the bundled example data
        rows = _rows(services)
        generation = _generation(services)
        assert len(rows) >= 28
        assert set(rows.values()) == {generation}
        assert services.keep_mapped(None) == 0  # nothing left to map: sync did it
        result = services.analyze(AS_OF, None)
        expected_findings, expected_measures = _from_raw(services)
        assert result.findings  # the examples raise findings
        assert sorted(f.key for f in result.findings) == expected_findings
        assert sorted(orjson.dumps(m.to_json()).decode() for m in result.adherence) == (
            expected_measures
        )
        assert result.patients == len(rows)
    finally:
        services.close()


def _patient_source(root: Path, name: str, resources: list[dict[str, Any]]) -> str:
    folder = root / name
    folder.mkdir()
    (folder / "data.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources))
    return str(folder)


def _dispense(rid: str, patient: str, day: str, days: int = 30) -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {"text": "Sertraline 50 MG Oral Tablet"},
        "whenHandedOver": f"{day}T10:00:00-05:00",
        "daysSupply": {
            "value": days,
            "unit": "d",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        },
    }


def test_changed_and_moved_resources_are_mapped_again(db_url: str, tmp_path: Path) -> None:
    services = build_services(Settings(database_url=db_url))
    try:
        first = [
            {"resourceType": "Patient", "id": "a"},
            {"resourceType": "Patient", "id": "b"},
            _dispense("a1", "a", "2026-03-01"),
            _dispense("a2", "a", "2026-04-15"),
            _dispense("b1", "b", "2026-03-01"),
            _dispense("b2", "b", "2026-04-01"),
        ]
        services.sync(_patient_source(tmp_path, "one", first), AS_OF, None)
        pdc = {
            m.patient: m.to_json()["days_covered"] for m in services.analyze(AS_OF, None).adherence
        }
        # a: Mar 1 + 30 days, Apr 15 + 30 days: 60 of 122 days (Mar 1..Jun 30)
        assert pdc == {"Patient/a": 60, "Patient/b": 60}
        # a2 moves from a to b with a longer supply: both patients' records change.
        moved = [_dispense("a2", "b", "2026-04-15", days=90)]
        services.store.put_resources(
            [
                {
                    "resource_type": "MedicationDispense",
                    "resource_id": "a2",
                    "version_id": "2",
                    "last_updated": "2026-06-01T00:00:00Z",
                    "patient_id": "Patient/b",
                    "source": "test",
                    "run_id": None,
                    "body": orjson.dumps(moved[0]),
                }
            ]
        )
        assert _rows(services) == {}  # both patients' stored records are gone
        result = services.analyze(AS_OF, None)
        pdc = {m.patient: m.days_covered for m in result.adherence if isinstance(m, PdcResult)}
        # a: one fill left, too few for a PDC. b: Mar 1..Mar 30 (30 days); b2 Apr 1..Apr 30
        # and a2 carried over to May 1..Jul 29: 30 + 30 + 61 (May 1..Jun 30) = 121 of 122 days
        assert pdc == {"Patient/b": 121}
        assert set(_rows(services)) == {"Patient/a", "Patient/b"}
    finally:
        services.close()


def test_a_changed_terminology_or_medication_changes_the_generation(db_url: str) -> None:
    services = build_services(Settings(database_url=db_url))
    try:
        services.sync(None, AS_OF, None)
        before = _generation(services)
        patients = stored_patients(services.store.engine, before)
        methadone = replace(services, terminology=load_terminology(moud_includes_methadone=True))
        assert _generation(methadone) != before
        assert stored_patients(methadone.store.engine, _generation(methadone)) == []
        assert methadone.keep_mapped(None) == len(patients)  # everyone mapped again
        assert stored_patients(services.store.engine, _generation(methadone)) == patients
        services.store.put_resources(
            [
                {
                    "resource_type": "Medication",
                    "resource_id": "new-med",
                    "version_id": "1",
                    "last_updated": "2026-06-01T00:00:00Z",
                    "patient_id": None,
                    "source": "test",
                    "run_id": None,
                    "body": orjson.dumps({"resourceType": "Medication", "id": "new-med"}),
                }
            ]
        )
        assert _generation(methadone) not in (before, _generation(services))
        assert _generation(services) != before
    finally:
        services.close()


def test_mapping_split_across_processes_stores_what_one_process_stores(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build_services(Settings(database_url=db_url))
    try:
        services.sync(None, AS_OF, None)
        with services.store.engine.connect() as conn:
            query = select(StoredRecords.patient_id, StoredRecords.body)  # type: ignore[call-overload]
            one = sorted(tuple(row) for row in conn.execute(query))
            conn.execute(delete(StoredRecords))
            conn.commit()
        monkeypatch.setattr(analyze_stage, "PARALLEL_FROM", 1)
        split = replace(services, settings=replace(services.settings, analysis_workers=3))
        assert split.keep_mapped(None) == len(one)
        with services.store.engine.connect() as conn:
            assert sorted(tuple(row) for row in conn.execute(query)) == one
    finally:
        services.close()


def test_stored_records_are_read_by_generation_and_patient_range_in_order(db_url: str) -> None:
    services = build_services(Settings(database_url=db_url))
    engine = services.store.engine
    # More rows than one fetch (2,000), two generations, patients out of order.
    rows = [(f"Patient/{i:05d}", "g1", b"%d" % i) for i in reversed(range(2500))]
    put_stored_records(engine, [*rows, ("Patient/x", "g0", b"old")])
    everyone = list(read_stored_records(engine, "g1"))
    assert everyone == [(f"Patient/{i:05d}", b"%d" % i) for i in range(2500)]
    some = list(read_stored_records(engine, "g1", "Patient/00100", "Patient/02300"))
    assert some == everyone[100:2300]
    assert list(read_stored_records(engine, "g0")) == [("Patient/x", b"old")]
    services.close()


def test_records_stored_without_a_profile_are_analyzed_as_with_one(db_url: str) -> None:
    # The rule profile is kept with the records (stored_mapping.py); a body without one still
    # gets every rule whose prerequisite holds.
    services = build_services(Settings(database_url=db_url))
    services.sync(None, AS_OF, None)
    generation = _generation(services)
    job = analyze_stage.StageInput(
        database_url=db_url,
        generation=generation,
        as_of=AS_OF,
        params=services.settings.analysis,
        prescribers={},
    )
    kept = analyze_stage.analyze_range(job, engine=services.store.engine)
    rows = []
    decoder = Decoder()
    for patient, body in read_stored_records(services.store.engine, generation):
        records, skips = decoder.decode(patient, body)
        rows.append((patient, generation, encode(records, skips)))  # no profile
    put_stored_records(services.store.engine, rows)
    bare = analyze_stage.analyze_range(job, engine=services.store.engine)
    services.close()
    assert [f.key for f in bare.findings] == [f.key for f in kept.findings]
    assert kept.findings  # the examples raise findings
