"""Suppression: an acknowledged finding is not raised again until its key or evidence changes.

Pure filter, the store (SQLite, and PostgreSQL when FHIRBRIDGE_TEST_DATABASE_URL is set), and
the whole command line on the example data (patient 16: methadone with QTc 510 ms).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from fhirbridge.cli import main
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.reconciliation import Acknowledgement, SuppressionParams, split_suppressed
from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.store.suppression import acknowledgements, record_acknowledgement

AS_OF = date(2025, 3, 31)
AT = datetime(2025, 4, 1, 14, 30, tzinfo=UTC)


def _finding(
    evidence: tuple[str, ...] = ("Observation/qtc-1",), rule: str = "methadone-qt"
) -> Finding:
    return Finding(
        rule=rule,
        category=Category.MONITORING,
        severity=Severity.HIGH,
        patient="Patient/p1",
        summary="Methadone with QTc 510 ms",
        detail="...",
        implicated=("MedicationRequest/met",),
        evidence=evidence,
        authority="Krantz 2009",
        as_of=AS_OF,
    )


def _ack(key: str, evidence: tuple[str, ...] | None = ("Observation/qtc-1",)) -> Acknowledgement:
    return Acknowledgement(
        key=key,
        kind="acknowledged",
        by="Practitioner/fm",
        at=AT,
        reason="ECG repeat booked",
        evidence=evidence,
    )


# ---- pure ----------------------------------------------------------------------------------


def test_same_key_and_evidence_is_suppressed() -> None:
    finding = _finding()
    raised, held = split_suppressed([finding], {finding.key: _ack(finding.key)})
    assert (raised, held) == ([], [finding])


def test_new_evidence_raises_it_again() -> None:
    # A new QTc (Observation/qtc-2) changes the evidence but not the key.
    finding = _finding(("Observation/qtc-2",))
    raised, held = split_suppressed([finding], {finding.key: _ack(finding.key)})
    assert (raised, held) == ([finding], [])


def test_new_prescription_is_a_new_key() -> None:
    old = _finding()
    new = replace(old, implicated=("MedicationRequest/met", "MedicationRequest/met-2"))
    assert old.key != new.key
    raised, _ = split_suppressed([new], {old.key: _ack(old.key)})
    assert raised == [new]


@pytest.mark.parametrize(
    "params",
    [SuppressionParams(enabled=False), SuppressionParams(exempt_rules=frozenset({"methadone-qt"}))],
    ids=["disabled", "exempt-rule"],
)
def test_configuration_turns_it_off(params: SuppressionParams) -> None:
    finding = _finding()
    raised, held = split_suppressed([finding], {finding.key: _ack(finding.key)}, params)
    assert (raised, held) == ([finding], [])


def test_acknowledgement_without_known_evidence_matches_by_key() -> None:
    finding = _finding(("Observation/anything",))
    _, held = split_suppressed([finding], {finding.key: _ack(finding.key, evidence=None)})
    assert held == [finding]


# ---- store ---------------------------------------------------------------------------------


def test_store_records_acknowledgements_with_the_evidence_then(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlStore(engine)
    finding = _finding()
    store.record_findings([finding], AS_OF)
    recorded = record_acknowledgement(
        store, finding.key, by="Practitioner/fm", at=AT, reason="dose reduced", kind="overridden"
    )
    assert recorded.evidence == ("Observation/qtc-1",)
    later = record_acknowledgement(
        store, finding.key, by="Practitioner/psy", at=AT.replace(hour=16), reason="seen"
    )
    unknown = record_acknowledgement(store, "f" * 32, by="user:amy", at=AT, reason="card")
    found = acknowledgements(store, [finding.key, "f" * 32, "0" * 32])
    assert sorted(found) == sorted([finding.key, "f" * 32])
    assert (found[finding.key].by, found[finding.key].kind) == ("Practitioner/psy", "acknowledged")
    assert found[finding.key].evidence == later.evidence == ("Observation/qtc-1",)
    assert found["f" * 32].evidence is None is unknown.evidence  # the finding was not stored
    # Fewer keys than rows: read by key (IN lists), not the whole table; the same answer.
    assert acknowledgements(store, [finding.key]) == {finding.key: found[finding.key]}
    assert acknowledgements(store, []) == {}
    assert acknowledgements(store) == found  # every acknowledged key
    with store.recording_findings(AS_OF, [finding.patient]) as recorder:
        recorder.add([finding], suppressed=[finding.key])
    assert [r.status for r in store.findings()] == ["suppressed"]
    engine.dispose()


def test_cds_hooks_override_counts_as_acknowledgement(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlStore(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cds_feedback (service, card, finding_key, outcome, override_reason,"
                " outcome_timestamp, received_at) VALUES ('fhirbridge-patient-view', :k, :k,"
                " 'overridden', 'urn:x|not-relevant', '2025-04-01T10:00:00Z', :at)"
            ),
            {"k": "a" * 32, "at": AT},
        )
        conn.execute(  # accepted cards are no acknowledgement, whichever way the rows are read
            text(
                "INSERT INTO cds_feedback (service, card, finding_key, outcome,"
                " outcome_timestamp, received_at) VALUES ('fhirbridge-patient-view', :k, :k,"
                " 'accepted', '2025-04-01T11:00:00Z', :at)"
            ),
            {"k": "b" * 32, "at": AT},
        )
    assert acknowledgements(store, ["b" * 32]) == {}  # 1 overridden row: read whole
    assert set(acknowledgements(store, ["a" * 32, "b" * 32, "c" * 32])) == {"a" * 32}
    found = acknowledgements(store, ["a" * 32])
    assert (found["a" * 32].kind, found["a" * 32].by) == (
        "overridden",
        "cds-hooks:fhirbridge-patient-view",
    )
    assert found["a" * 32].evidence is None
    engine.dispose()


def test_bad_acknowledgements_are_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db'}")
    upgrade(engine)
    store = SqlStore(engine)
    with pytest.raises(ValueError, match="kind must be one of"):
        record_acknowledgement(store, "k", by="x", at=AT, reason="r", kind="snoozed")
    with pytest.raises(ValueError, match="names who"):
        record_acknowledgement(store, "k", by=" ", at=AT, reason="r")
    engine.dispose()


# ---- the command line ----------------------------------------------------------------------


def _findings(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "findings.ndjson").read_text().splitlines()]


def test_acknowledged_finding_stays_quiet_until_a_new_ecg(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fb.db'}"
    args = ["--as-of", "2026-06-30", "--db", db]
    assert main(["run", *args, "--out", str(tmp_path / "1")]) == 0
    [qt] = [f for f in _findings(tmp_path / "1") if f["rule"] == "methadone-qt"]
    assert qt["evidence"] == ["Observation/ex-obs-16-2"]  # QTc 510 ms on day -20

    engine = make_engine(db)
    store = SqlStore(engine)
    record_acknowledgement(store, str(qt["key"]), by="Practitioner/ex-prac-fm", at=AT, reason="x")

    # Second run: the same finding (same key, same evidence) is held back and counted.
    assert main(["run", *args, "--out", str(tmp_path / "2")]) == 0
    assert "methadone-qt" not in {f["rule"] for f in _findings(tmp_path / "2")}
    report = json.loads((tmp_path / "2" / "run-report.json").read_text())
    assert report["findings_suppressed"] == {"methadone-qt": 1}
    assert "methadone-qt" not in report["findings"]
    assert {r.key: r.status for r in store.findings(patient="Patient/ex-pt-16")}[qt["key"]] == (
        "suppressed"
    )

    # A new QTc of 520 ms on day -5: new evidence, raised again on the next analysis.
    newer = {
        "resourceType": "Observation",
        "id": "ex-obs-16-9",
        "status": "final",
        "subject": {"reference": "Patient/ex-pt-16"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8636-3"}]},
        "effectiveDateTime": "2026-06-25T09:00:00-05:00",
        "valueQuantity": {
            "value": 520,
            "unit": "ms",
            "system": "http://unitsofmeasure.org",
            "code": "ms",
        },
    }
    extra = tmp_path / "extra.ndjson"
    extra.write_bytes(orjson.dumps(newer) + b"\n")
    assert main(["sync", "--source", str(extra), *args]) == 0
    assert main(["analyze", *args, "--out", str(tmp_path / "3")]) == 0
    [again] = [f for f in _findings(tmp_path / "3") if f["rule"] == "methadone-qt"]
    assert (again["key"], again["evidence"]) == (qt["key"], ["Observation/ex-obs-16-9"])
    report = json.loads((tmp_path / "3" / "run-report.json").read_text())
    assert report["findings_suppressed"] == {}
    engine.dispose()
