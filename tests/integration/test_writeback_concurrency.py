"""Two `fhirbridge writeback` processes started at the same moment on the same findings leave
exactly one resource per identifier, on SQLite and on PostgreSQL (`db_url`).

The FHIR server sits behind tests/writeback_support.RacyProxy in "racy" mode: a conditional create
is a search, a 50 ms pause and a plain create, as on HAPI, Microsoft's server and Medplum under
load (ehr-integration.md section 0 item 2). Each write also takes 20 ms more, so the two
processes' write phases overlap (checked: their runs overlap in time). Without fhirbridge's
per-key lock both processes would see no resource and both create one; with it the second
process waits, reads the ledger row the first recorded, and sends nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fhirbridge.cli import main
from tests.fhir_loading import load_examples, search_all
from tests.writeback_support import RacyProxy, report, running, spawn, stderr_of

pytestmark = pytest.mark.fhir_server
AS_OF = "2026-06-30"
TYPES = ("DetectedIssue", "Flag", "CarePlan")


def test_two_processes_at_once_write_each_identifier_once(
    fhir_base_url: str, db_url: str, tmp_path: Path
) -> None:
    load_examples(fhir_base_url)
    # Findings into the store once (sync + analyze, nothing written back).
    assert (
        main(
            [
                "run",
                "--source",
                fhir_base_url,
                "--target",
                "none",
                "--as-of",
                AS_OF,
                "--db",
                db_url,
                "--out",
                str(tmp_path / "analyze"),
            ]
        )
        == 0
    )
    proxy = RacyProxy(upstream=fhir_base_url, delay=0.02, conditional_create="racy")
    with running(proxy):
        args = [
            "writeback",
            "--source",
            proxy.base_url,
            "--target",
            "fhir-full",
            "--as-of",
            AS_OF,
            "--db",
            db_url,
        ]
        procs = [spawn([*args, "--out", str(tmp_path / f"out{i}")], tmp_path) for i in (1, 2)]
        codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0], stderr_of(tmp_path)

    first, second = report(tmp_path / "out1"), report(tmp_path / "out2")
    planned = first["planned"]
    assert second["planned"] == planned
    assert first["write_errors"] == second["write_errors"] == []
    # Every resource was written by exactly one of the two processes; the other found it
    # unchanged in the ledger once it got the key's lock.
    for rtype in TYPES:
        created = first["written"].get(rtype, {}).get("created", 0)
        created += second["written"].get(rtype, {}).get("created", 0)
        unchanged = first["written"].get(rtype, {}).get("unchanged", 0)
        unchanged += second["written"].get(rtype, {}).get("unchanged", 0)
        assert (created, unchanged) == (planned[rtype], planned[rtype]), rtype

    # On the server: one resource per identifier, each in its first version.
    for rtype in TYPES:
        resources = search_all(
            fhir_base_url, f"{rtype}?_tag=urn:fhirbridge:tag|fhirbridge&_count=500"
        )
        keys = Counter(r["identifier"][0]["value"] for r in resources)
        assert len(keys) == planned[rtype], rtype
        assert max(keys.values()) == 1, (rtype, keys.most_common(3))
    # One Provenance per write: per versioned target, once.
    provenance = search_all(fhir_base_url, "Provenance?_count=500")
    targets = Counter(t["reference"] for p in provenance for t in p["target"])
    assert len(targets) == sum(planned[t] for t in TYPES)
    assert max(targets.values()) == 1

    # The two runs really overlapped (otherwise this test would prove nothing).
    engine = create_engine(db_url)
    with engine.connect() as conn:
        spans = conn.execute(
            text("SELECT started_at, finished_at FROM run WHERE command = 'writeback'")
        ).all()
    engine.dispose()
    assert len(spans) == 2
    assert max(s for s, _ in spans) < min(f for _, f in spans)
