"""The analyze stage split across processes (analyze_stage.py) gives exactly what one process
gives: the same findings in the same order, the same measures and the same run-report counts,
on SQLite and PostgreSQL; small runs and in-memory databases stay in one process."""

from __future__ import annotations

import gc
import threading
from dataclasses import replace
from datetime import date

import orjson
import pytest

from fhirbridge import analyze_stage
from fhirbridge.analyze_stage import worker_count
from fhirbridge.bootstrap import build_services
from fhirbridge.services import Services
from fhirbridge.settings import Settings
from fhirbridge.stored_mapping import mapping_generation

AS_OF = date(2026, 6, 30)


def _run(db_url: str, workers: int) -> tuple[list[str], list[bytes], dict[str, object]]:
    services = build_services(Settings(database_url=db_url, analysis_workers=workers))
    try:
        result = services.analyze(AS_OF, None)
        return (
            [f.key for f in result.findings],
            [orjson.dumps(m.to_json()) for m in result.adherence],
            result.as_report(),
        )
    finally:
        services.close()


def test_three_processes_give_what_one_gives(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    services = build_services(Settings(database_url=db_url))
    services.sync(None, AS_OF, None)  # 28 constructed patients
    services.close()
    one = _run(db_url, 1)
    monkeypatch.setattr(analyze_stage, "PARALLEL_FROM", 1)
    three = _run(db_url, 3)
    assert one[2].pop("processes") == 1
    assert three[2].pop("processes") == 3
    assert three == one
    assert one[0]  # the examples do raise findings
    assert one[2]["patients_analyzed"] >= 28


def _synced_job(db_url: str) -> tuple[Services, analyze_stage.StageInput]:
    """Services over the synced examples, and the stage input for their stored records."""
    services = build_services(Settings(database_url=db_url))
    services.sync(None, AS_OF, None)
    generation = mapping_generation(services.terminology, services._mapping_context().medications)
    job = analyze_stage.StageInput(
        database_url=db_url,
        generation=generation,
        as_of=AS_OF,
        params=services.settings.analysis,
        prescribers={},
    )
    return services, job


def test_chunks_are_merged_in_patient_order_and_progress_counts_them(db_url: str) -> None:
    services, job = _synced_job(db_url)
    heard: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analyze_stage, "PARALLEL_FROM", 1)
        patients, parts = analyze_stage.analyze_stored(
            job, services.store.engine, 2, lambda _, n: heard.append(n)
        )
        result = analyze_stage.AnalyzeResult()
        for part in parts:
            result.merge(part)
    alone = analyze_stage.analyze_range(job, engine=services.store.engine)
    services.close()
    # 2 workers x 8 chunks over the patients: ceil(n / 16) patients per chunk.
    size = -(-len(patients) // 16)
    assert heard == [min(n, len(patients)) for n in range(size, len(patients) + size, size)]
    assert result.processes == 2
    assert [f.key for f in result.findings] == [f.key for f in alone.findings]
    assert result.adherence == alone.adherence
    assert (result.mapped, result.skipped) == (alone.mapped, alone.skipped)


def test_a_threaded_process_spawns_its_workers(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server thread calling analyze: forking a threaded process is unsafe, so the workers
    # are spawned (they import fhirbridge themselves) and give the same result.
    services = build_services(Settings(database_url=db_url))
    services.sync(None, AS_OF, None)
    services.close()
    one = _run(db_url, 1)
    monkeypatch.setattr(analyze_stage, "PARALLEL_FROM", 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert analyze_stage.start_context().get_start_method() == "spawn"
        two = _run(db_url, 2)
    finally:
        stop.set()
        other.join()
    assert analyze_stage.start_context().get_start_method() == "fork"
    assert two[2].pop("processes") == 2
    one[2].pop("processes")
    assert two == one


def test_small_runs_and_memory_databases_stay_in_one_process() -> None:
    assert worker_count(4, analyze_stage.PARALLEL_FROM - 1, "sqlite:///x.db") == 1
    assert worker_count(4, 100_000, "sqlite://") == 1
    assert worker_count(4, 100_000, "sqlite:///x.db") == 4
    assert worker_count(0, 100_000, "sqlite:///x.db") >= 1
    assert replace(Settings(), analysis_workers=2).analysis_workers == 2


def test_parts_closed_before_they_are_collected_leave_no_workers(db_url: str) -> None:
    # An error between starting the workers and collecting their parts (services.py closes
    # the parts): the pool is shut down and the parent's heap unfrozen all the same.
    services, job = _synced_job(db_url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analyze_stage, "PARALLEL_FROM", 1)
        _, parts = analyze_stage.analyze_stored(job, services.store.engine, 2)
    pool = parts._pool
    assert pool is not None
    assert gc.get_freeze_count() > 0
    parts.close()
    assert parts._pool is None
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError):  # shut down: it takes no more work
        pool.submit(print)
    services.close()
