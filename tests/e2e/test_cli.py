"""The command line as a new user meets it: the default run, and bad input of every kind.

Bad input gives a counted skip (exit 0, nothing already read lost) or one clear error line with
exit code 2 (usage, configuration, missing path) or 3 (unreachable source), never a traceback.
"""

from __future__ import annotations

import json
import socket
from datetime import date
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text

from fhirbridge.cli import main
from tests.example_expectations import expected_adherence, mismatches


def _findings(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "findings.ndjson").read_text().splitlines()]


def test_default_run_uses_bundled_examples_as_of_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A fresh install, no arguments: the example data, rebased so its problems are current today.
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 0
    findings = _findings(tmp_path / "fhirbridge-out")
    assert mismatches(findings) == []
    assert {f["as_of"] for f in findings} == {date.today().isoformat()}
    printed = capsys.readouterr().out
    assert "opioid-benzodiazepine" in printed
    assert f"{len(findings)} findings" in printed
    for name in ("findings.ndjson", "adherence.ndjson", "writeback-bundle.json", "run-report.json"):
        assert (tmp_path / "fhirbridge-out" / name).is_file()
    assert (tmp_path / "fhirbridge.db").is_file()


def test_example_run_on_its_reference_date_matches_the_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--as-of",
                "2026-06-30",
                "--out",
                str(out),
                "--db",
                f"sqlite:///{tmp_path / 'db'}",
            ]
        )
        == 0
    )
    assert mismatches(_findings(out)) == []
    lines = [json.loads(line) for line in (out / "adherence.ndjson").read_text().splitlines()]
    # PDC lines byte for byte as the scenarios define them; AMM lines: tests/unit/test_amm.py.
    assert [a for a in lines if a["measure"] == "PDC"] == expected_adherence()


def _bad_input_dir(root: Path) -> Path:
    good_request = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2025-01-01",
        "medicationCodeableConcept": {"text": "Sertraline 50 MG Oral Tablet"},
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}},
    }
    no_medication = {**good_request, "id": "mr-2"}
    del no_medication["medicationCodeableConcept"]
    (root / "nested").mkdir(parents=True)
    lines = [
        orjson.dumps({"resourceType": "Patient", "id": "p1"}),
        orjson.dumps(good_request),
        b'{"resourceType": "MedicationRequest", "id": "mr-3", "status": "act',  # truncated
        orjson.dumps({"resourceType": "Foo", "id": "f1"}),  # unknown type
        orjson.dumps(no_medication),  # unusable
        orjson.dumps({**good_request, "id": "mr-4", "authoredOn": "2025-02-01"}),
    ]
    (root / "nested" / "requests.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    (root / "broken-bundle.json").write_text(
        '{"resourceType": "Bundle", "type": "collection", "entry": ['
    )
    return root


def test_bad_input_is_counted_and_kept_and_nothing_else_is_lost(tmp_path: Path) -> None:
    source = _bad_input_dir(tmp_path / "in")
    db = tmp_path / "fb.db"
    code = main(
        [
            "run",
            "--source",
            str(source),
            "--as-of",
            "2025-03-31",
            "--out",
            str(tmp_path / "out"),
            "--db",
            f"sqlite:///{db}",
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "run-report.json").read_text())
    assert report["resources_stored"] == {"MedicationRequest": 2, "Patient": 1}
    assert report["dead_lettered_at_sync"] == 3
    assert report["skipped_at_sync"] == {
        "dead letter: medication[x]: missing": 1,
        "dead letter: not valid JSON": 2,
        "type not used: Foo": 1,
    }
    with create_engine(f"sqlite:///{db}").connect() as conn:
        rows = conn.execute(
            text("SELECT reason, resource_id, location, body FROM dead_letter ORDER BY id")
        ).all()
    assert [(r.reason, r.resource_id) for r in rows] == [
        ("not valid JSON", None),
        ("not valid JSON", None),
        ("medication[x]: missing", "mr-2"),
    ]
    assert rows[0].location.endswith("broken-bundle.json")
    assert rows[1].location.endswith("requests.ndjson:3")
    assert rows[1].body.startswith(b'{"resourceType": "MedicationRequest", "id": "mr-3"')
    # The two good orders still make a PDC: 2025-01-01 x30 and 2025-02-01 x30 → 60 of 90 days.
    adherence = [
        json.loads(line)
        for line in (tmp_path / "out" / "adherence.ndjson").read_text().splitlines()
    ]
    assert [(a["patient"], a["value"], a["basis"]) for a in adherence if a["measure"] == "PDC"] == [
        ("Patient/p1", 0.6667, "order")
    ]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "--source", "/nonexistent/fhir"], 2, "source not found: /nonexistent/fhir"),
        (["run", "--as-of", "2025-13-40"], 2, "'2025-13-40' is not a date in the form YYYY-MM-DD"),
        (["run", "--target", "somewhere"], 2, "Invalid value for '--target'"),
        (["run", "--source", "ftp://example.org/x"], 2, "unsupported source scheme: ftp://"),
        (["run", "--target", "fhir-full"], 2, "give --source a FHIR base URL"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    args: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == code
    assert message in _one_error_line(capsys)


def test_bad_config_names_file_path_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fhirbridge.toml"
    config.write_text('[analysis]\npdc_threshold = "high"\n')
    assert main(["run", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert _one_error_line(capsys) == (
        f"fhirbridge: error: {config}: analysis/pdc_threshold: 'high' is not of type 'number'"
    )


def test_unreachable_server_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a free port on loopback, closed again: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(
        [
            "run",
            "--source",
            f"http://127.0.0.1:{port}/fhir",
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 3
    line = _one_error_line(capsys)
    assert line == (
        f"fhirbridge: error: GET /fhir/Patient: cannot reach http://127.0.0.1:{port} "
        "(ConnectionError)"
    )
