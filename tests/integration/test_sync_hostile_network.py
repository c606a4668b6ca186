"""Incremental sync through a fault-injecting proxy stores exactly what a clean sync stores.

Real parts: the FHIR test server (node), a real proxy on 127.0.0.1 (tests/fault_proxy.py), the
real client, store (SQLite file) and cursors. Sleeps are real: Retry-After is honoured.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fhirbridge.errors import FhirError, FhirTransientError
from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.settings import Connection
from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.sync.connections import pull_all
from fhirbridge.sync.incremental import ALL_TYPES
from tests.fault_proxy import FAULTS, fault_proxy
from tests.fhir_loading import load_examples
from tests.sync_support import generated, put_all, server_versions, stored_versions

pytestmark = pytest.mark.fhir_server


def _sync(url: str, db_url: str, **options: object) -> dict[str, object]:
    engine = make_engine(db_url)
    upgrade(engine)
    connection = Connection(
        name="ehr",
        base_url=url,
        page_size=10,
        timeout_seconds=1.0,  # the proxy's "slow" reply takes 1.5 s
        **options,  # type: ignore[arg-type]
    )
    try:
        counts = pull_all(
            [connection],
            SqlStore(engine),
            MappingContext(terminology=load_terminology()),
            run_id=None,
            now=lambda: datetime.now(UTC),
        )
    finally:
        engine.dispose()
    return counts.as_report()


def test_hostile_network_stores_exactly_the_clean_set(fhir_base_url: str, tmp_path: Path) -> None:
    assert load_examples(fhir_base_url) == ["MedicationRequest/ex-mr-27-2"]  # the dead letter
    put_all(fhir_base_url, generated(patients=20, per_patient=10))  # 20 + 20 + 200 resources
    truth = server_versions(fhir_base_url, ALL_TYPES)

    clean_db = f"sqlite:///{tmp_path / 'clean.db'}"
    _sync(fhir_base_url, clean_db)
    clean = stored_versions(clean_db)
    assert clean == truth  # the clean sync itself misses nothing

    hostile_db = f"sqlite:///{tmp_path / 'hostile.db'}"
    with fault_proxy(fhir_base_url, seed=6, rate=0.3) as proxy:
        started = time.monotonic()
        report = _sync(proxy.url, hostile_db, max_retries=8)
        elapsed = time.monotonic() - started
    assert stored_versions(hostile_db) == clean
    # Every kind of failure of issue 6 point 4 happened at least once in this run (seed 6).
    assert sorted(proxy.state.injected) == sorted(FAULTS)
    network = report["sync_connections"]["ehr"]["network"]  # type: ignore[index]
    retried = sum(n for k, n in network.items() if k.startswith("retried:"))
    restarts = sum(
        sum(t.get("restarts", {}).values())
        for t in report["sync_connections"]["ehr"]["types"].values()  # type: ignore[index]
    )
    injected = proxy.state.injected
    # Each injected fault was either retried by the client or restarted the search from the
    # cursor (expired cursors and foreign next links), never ignored. (More retries than faults
    # only if the loaded machine itself made a request time out.)
    assert retried + restarts >= sum(injected.values())
    assert (
        restarts == injected["foreign-next"] + injected["expired-410"] + injected["expired-outcome"]
    )
    assert elapsed < 240


def test_a_server_that_keeps_failing_ends_with_one_clear_error(
    fhir_base_url: str, tmp_path: Path
) -> None:
    put_all(fhir_base_url, generated(patients=2, per_patient=1))
    db = f"sqlite:///{tmp_path / 'db.db'}"
    with (
        fault_proxy(fhir_base_url, seed=1, rate=1.0, faults=("503",)) as proxy,
        pytest.raises(FhirTransientError, match=r"GET /Patient → 503: injected 503"),
    ):
        _sync(proxy.url, db, max_retries=3)
    # 1 attempt + 3 retries, then a clear final error; nothing stored, no cursor moved.
    assert proxy.state.injected["503"] == 4
    assert stored_versions(db) == set()


def test_next_links_that_always_leave_the_server_fail_after_bounded_restarts(
    fhir_base_url: str, tmp_path: Path
) -> None:
    put_all(fhir_base_url, generated(patients=30, per_patient=0))  # 30 Patients: 3 pages of 10
    db = f"sqlite:///{tmp_path / 'db.db'}"
    with (
        fault_proxy(fhir_base_url, seed=1, rate=1.0, faults=("foreign-next",)) as proxy,
        pytest.raises(FhirError, match="next link leaves the server origin") as info,
    ):
        _sync(proxy.url, db)
    assert "search failed 6 times in a row" in str(info.value)
    # Never requested: every request went to the proxy's own origin.
    assert all(not path.startswith("http") for _, path in proxy.state.requests)
    # The first page of each attempt was stored (the cursor only covers it): 10 Patients.
    assert len(stored_versions(db)) == 10
