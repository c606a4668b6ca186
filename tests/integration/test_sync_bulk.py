"""The Bulk Data `$export` client against the test server's export endpoint, over real HTTP.

The files live behind a 307 to another origin that refuses any request carrying an
Authorization header (as pre-signed storage URLs do), so a successful download shows the token
did not follow the redirect. The SMART proxy in front requires a token for everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from sqlalchemy import Engine

from fhirbridge.errors import FhirError
from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.settings import Connection
from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.store.cursors import SqlCursors
from fhirbridge.sync.bulk import EXPORT_CURSOR, BulkExport, ExportScope
from fhirbridge.sync.connections import open_client, pull_all
from fhirbridge.sync.incremental import ALL_TYPES
from fhirbridge.sync.ingest import Ingest
from fhirbridge.sync.keys import load_signing_key, public_jwks, write_key_pair
from tests.fault_proxy import Client, fault_proxy
from tests.sync_support import JSON, generated, put_all, server_versions, stored_versions

pytestmark = pytest.mark.fhir_server


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _configure(base_url: str, **config: int) -> None:
    requests.post(
        f"{base_url}/$export-config", data=orjson.dumps(config), headers=JSON, timeout=30
    ).raise_for_status()


def _smart(tmp_path: Path, url: str, **options: Any) -> Connection:
    key, _, _ = write_key_pair(tmp_path / "keys")
    return Connection(
        name="ehr",
        base_url=url,
        auth="smart-backend",
        client_id="bulk-client",
        private_key_file=str(key),
        pull="bulk",
        **options,
    )


def _clients(tmp_path: Path) -> dict[str, Client]:
    jwks = public_jwks([load_signing_key(str(tmp_path / "keys" / "private-key.pem"))])
    return {"bulk-client": Client(client_id="bulk-client", jwks=jwks)}


def _export(
    connection: Connection, db: str, scope: ExportScope, sleep: Sleeps | None = None, **kw: Any
) -> dict[str, Any]:
    engine = make_engine(db)
    upgrade(engine)
    store = SqlStore(engine)
    ingest = Ingest(
        store,
        MappingContext(terminology=load_terminology()),
        source="ehr",
        run_id=None,
        now=datetime.now(UTC),
    )
    try:
        with open_client(connection) as client:
            job = BulkExport(
                client,
                SqlCursors(engine),
                ingest,
                scope,
                now=lambda: datetime.now(UTC),
                sleep=sleep or Sleeps(),
                **kw,
            )
            return job.run()
    finally:
        engine.dispose()


def test_system_export_through_smart_auth_and_a_redirect_to_storage(
    fhir_base_url: str, tmp_path: Path
) -> None:
    put_all(fhir_base_url, generated(patients=10, per_patient=10))  # 10 + 10 + 100
    _configure(fhir_base_url, polls=2, retryAfter=1, fileLines=30)
    truth = server_versions(fhir_base_url, ALL_TYPES)
    db = f"sqlite:///{tmp_path / 'db.db'}"
    with fault_proxy(fhir_base_url, smart=True, clients={}) as proxy:
        connection = _smart(tmp_path, proxy.url)
        proxy.state.clients.update(_clients(tmp_path))
        with _engine(db) as engine:
            report = pull_all(
                [connection],
                SqlStore(engine),
                MappingContext(terminology=load_terminology()),
                run_id=None,
                now=lambda: datetime.now(UTC),
                sleep=(sleeps := Sleeps()),
            ).as_report()
    assert stored_versions(db) == truth
    export = report["sync_connections"]["ehr"]["export"]
    # 100 Observations in files of at most 30 lines: 4 files; 1 Patient and 1 order file.
    assert export["files"] == 6
    assert export["read"] == export["stored"] == 120
    assert export["polls"] == 3  # two 202s, then the manifest
    assert sleeps == [1.0, 1.0]  # Retry-After: 1, honoured on each 202
    kick_offs = [p for m, p in proxy.state.requests if "/$export?" in p]
    assert len(kick_offs) == 1
    assert "_type=Patient%2CPractitioner" in kick_offs[0]
    # The job was deleted on the server when everything was in; the cursor is transactionTime.
    deletes = [p for m, p in proxy.state.requests if m == "DELETE"]
    assert len(deletes) == 1
    with _engine(db) as engine:
        assert SqlCursors(engine).get("ehr", EXPORT_CURSOR) == export["transaction_time"]

    # The next export asks only for what changed since that transactionTime.
    old = requests.get(f"{fhir_base_url}/Observation/go3-3", headers=JSON, timeout=30).json()
    requests.put(
        f"{fhir_base_url}/Observation/go3-3",
        data=orjson.dumps({**old, "valueQuantity": {"value": 5, "unit": "{score}"}}),
        headers=JSON,
        timeout=30,
    ).raise_for_status()
    with (
        fault_proxy(fhir_base_url, smart=True, clients=_clients(tmp_path)) as proxy,
        _engine(db) as engine,
    ):
        second = pull_all(
            [_smart_existing(tmp_path, proxy.url)],
            SqlStore(engine),
            MappingContext(terminology=load_terminology()),
            run_id=None,
            now=lambda: datetime.now(UTC),
            sleep=Sleeps(),
        ).as_report()
    again = second["sync_connections"]["ehr"]["export"]
    assert again["since"] == export["transaction_time"]
    assert (again["read"], again["stored"]) == (1, 1)
    assert stored_versions(db) == server_versions(fhir_base_url, ALL_TYPES)


def _smart_existing(tmp_path: Path, url: str) -> Connection:
    return Connection(
        name="ehr",
        base_url=url,
        auth="smart-backend",
        client_id="bulk-client",
        private_key_file=str(tmp_path / "keys" / "private-key.pem"),
        pull="bulk",
    )


@contextmanager
def _engine(db: str) -> Iterator[Engine]:
    engine = make_engine(db)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _job(db: str) -> Any:
    with _engine(db) as engine:
        return SqlCursors(engine).export_job("ehr")


def test_a_crash_mid_download_resumes_the_same_job(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=6, per_patient=10))  # 60 Observations
    _configure(fhir_base_url, polls=0, fileLines=20)  # Patient, MedicationRequest, 3 x Obs
    db = f"sqlite:///{tmp_path / 'db.db'}"
    connection = Connection(name="ehr", base_url=fhir_base_url, pull="bulk")
    scope = ExportScope(
        source="ehr", types=("Patient", "MedicationRequest", "Observation"), parallel=1
    )

    class Crash(Exception):
        pass

    def crash_after_two_files(stage: str, done: int) -> None:
        if done >= 12 + 20:  # Patient and MedicationRequest files (6 + 6), then 20 Observations
            raise Crash

    with pytest.raises(Crash):
        _export(connection, db, scope, progress=crash_after_two_files)
    job = _job(db)
    assert job is not None
    assert len(orjson.loads(job.files_done)) == 2  # the third file was not recorded as done

    report = _export(connection, db, scope)
    assert report["resumed"] is True
    assert report["files_skipped_done"] == 2
    assert report["files"] == 5
    assert stored_versions(db) == server_versions(
        fhir_base_url, ("Patient", "MedicationRequest", "Observation")
    )
    assert _job(db) is None


def test_group_and_patient_level_exports(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=3, per_patient=2))
    group = {
        "resourceType": "Group",
        "id": "g",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": "Patient/gp2"}}],
    }
    put_all(fhir_base_url, [group])
    _configure(fhir_base_url, polls=0)
    connection = Connection(name="ehr", base_url=fhir_base_url, pull="bulk")
    group_db = f"sqlite:///{tmp_path / 'group.db'}"
    _export(connection, group_db, ExportScope(source="g", level="group", group="Group/g"))
    assert {r[1] for r in stored_versions(group_db)} == {"gp2", "gmr2", "go2-0", "go2-1"}
    patient_db = f"sqlite:///{tmp_path / 'patient.db'}"
    _export(connection, patient_db, ExportScope(source="p", level="patient", types=("Patient",)))
    assert {r[1] for r in stored_versions(patient_db)} == {"gp0", "gp1", "gp2"}


def test_cancel_deletes_the_job_on_the_server(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=1, per_patient=1))
    _configure(fhir_base_url, polls=1000, retryAfter=1)
    connection = Connection(name="ehr", base_url=fhir_base_url, pull="bulk")
    db = f"sqlite:///{tmp_path / 'db.db'}"
    scope = ExportScope(source="ehr", max_polls=3)
    with pytest.raises(FhirError, match="export still running after 3 polls"):
        _export(connection, db, scope)
    job = _job(db)
    assert job is not None  # kept for the next run to resume
    with open_client(connection) as client, _engine(db) as engine:
        assert BulkExport(client, SqlCursors(engine), None, scope, now=_now).cancel()
    assert requests.get(job.status_url, timeout=30).status_code == 404
    assert _job(db) is None


def _now() -> datetime:
    return datetime.now(UTC)


def test_export_through_a_hostile_network(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=5, per_patient=8))
    _configure(fhir_base_url, polls=6, retryAfter=0, fileLines=10)
    db = f"sqlite:///{tmp_path / 'db.db'}"
    faults = ("429-seconds", "500", "502", "503", "504", "reset", "cut-short", "truncated-json")
    with fault_proxy(fhir_base_url, seed=3, rate=0.5, faults=faults) as proxy:
        connection = Connection(name="ehr", base_url=proxy.url, pull="bulk", max_retries=8)
        report = _export(
            connection, db, ExportScope(source="ehr", types=("Patient", "Observation"))
        )
    # Kick-off, 7 polls, file requests and the DELETE went through the proxy (23 requests with
    # the retries); seed 3 injected every fault kind given, 11 in all, each retried.
    assert sorted(proxy.state.injected) == sorted(faults)
    assert sum(proxy.state.injected.values()) == 11
    assert report["stored"] == 45  # 5 Patients + 40 Observations, each once
    assert stored_versions(db) == server_versions(fhir_base_url, ("Patient", "Observation"))
