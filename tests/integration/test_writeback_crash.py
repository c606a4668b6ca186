"""A `fhirbridge writeback` process SIGKILLed after the server accepted a write and before the
ledger recorded it leaves no duplicate: the next run finds the resource through the
`If-None-Exist` backstop, adopts it (no new version), records it, and writes its Provenance once.

The kill comes from FHIRBRIDGE_TEST_CRASH_AFTER_WRITE (a test-only hook wired in bootstrap.py:
SIGKILL right after the server's 2xx, inside the ledger transaction), once for each resource type
the fhir-full profile writes.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from fhirbridge.cli import main
from fhirbridge.store import audit_entries, make_engine
from fhirbridge.store.ledger import SqlLedger
from tests.fhir_loading import load_examples, search_all
from tests.writeback_support import history_length, report, spawn, stderr_of

pytestmark = pytest.mark.fhir_server
AS_OF = "2026-06-30"
TYPES = ("DetectedIssue", "Flag", "CarePlan")


def _state(url: str) -> dict[str, list[dict[str, object]]]:
    return {t: search_all(url, f"{t}?_tag=urn:fhirbridge:tag|fhirbridge&_count=500") for t in TYPES}


@pytest.mark.parametrize(
    ("crash", "kind", "before"),
    [
        # (hook spec, the type whose write is cut off, resources of that type already recorded)
        ("DetectedIssue:3", "DetectedIssue", 2),
        ("Flag", "Flag", 0),
        ("CarePlan:2", "CarePlan", 1),
    ],
)
def test_killed_after_the_server_accepted_leaves_no_duplicate(
    fhir_base_url: str, tmp_path: Path, crash: str, kind: str, before: int
) -> None:
    db = f"sqlite:///{tmp_path / 'fb.db'}"
    load_examples(fhir_base_url)
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
                db,
                "--out",
                str(tmp_path / "analyze"),
            ]
        )
        == 0
    )
    args = [
        "writeback",
        "--source",
        fhir_base_url,
        "--target",
        "fhir-full",
        "--as-of",
        AS_OF,
        "--db",
        db,
    ]

    killed = spawn(
        [*args, "--out", str(tmp_path / "crashed")],
        tmp_path,
        {"FHIRBRIDGE_TEST_CRASH_AFTER_WRITE": crash},
    )
    assert killed.wait(timeout=300) == -signal.SIGKILL, stderr_of(tmp_path)
    engine = make_engine(db)
    ledger = SqlLedger(engine)
    recorded = Counter(t for t, _ in ledger.snapshot(fhir_base_url))
    on_server = {t: len(rs) for t, rs in _state(fhir_base_url).items()}
    # The server holds one more resource of `kind` than the ledger knows: the crash window.
    assert recorded[kind] == before
    assert on_server[kind] == before + 1

    again = spawn([*args, "--out", str(tmp_path / "again")], tmp_path)
    assert again.wait(timeout=300) == 0, stderr_of(tmp_path)
    second = report(tmp_path / "again")
    assert second["write_errors"] == []
    assert second["written"][kind]["adopted"] == 1  # found by If-None-Exist, not created again
    planned = second["planned"]
    state = _state(fhir_base_url)
    for rtype in TYPES:
        keys = Counter(r["identifier"][0]["value"] for r in state[rtype])  # type: ignore[index]
        assert len(keys) == planned[rtype], rtype
        assert max(keys.values()) == 1, rtype
        # Adopted as it was: every resource is in its first version.
        assert {history_length(fhir_base_url, rtype, str(r["id"])) for r in state[rtype]} == {1}
    # Every written version has exactly one Provenance, the adopted one included.
    provenance = search_all(fhir_base_url, "Provenance?_count=500")
    targets = Counter(t["reference"] for p in provenance for t in p["target"])
    assert len(targets) == sum(planned.values())
    assert max(targets.values()) == 1
    assert Counter(t for t, _ in ledger.snapshot(fhir_base_url)) == Counter(planned)
    adopted = [a for a in audit_entries(engine) if a.outcome == "adopted"]
    assert [(a.resource_type, a.action) for a in adopted] == [(kind, "conditional-create")]
    engine.dispose()
