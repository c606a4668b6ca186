"""Integrator tools: every problem of a mapping file with file, line and path; ConceptMap
import; coverage of unmapped codes in the store; mapping changes picked up by a running API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirbridge.cli import main
from fhirbridge.mapping_tools import conceptmap_to_mapping, mapping_problems

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_every_problem_is_reported_with_file_line_and_path(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(
        'source = "site formulary"\n'
        "\n"
        "[medications]\n"
        '"urn:local|A1" = ["sertraline"]\n'
        '"urn:local|A2" = ["sertralin"]\n'
        '"no-bar-here" = ["sertraline"]\n'
        "\n"
        "[prescriber_roles.practitioners]\n"
        '"Practitioner/7" = "psychiatrist"\n'
    )
    assert mapping_problems(file) == [
        f"{file}:6: medications: 'no-bar-here' does not match '^[^|]+\\\\|[^|]+$'",
        f"{file}:9: prescriber_roles/practitioners/Practitioner/7: 'psychiatrist' is not one of "
        "['psychiatric', 'addiction', 'primary-care', 'other']",
        f"{file}:5: medications/urn:local|A2: unknown ingredient 'sertralin'",
    ]


def test_validate_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[medications]\n"urn:local|A1" = ["sertraline"]\n')
    assert main(["mappings", "validate", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: OK (1 medication codes, 0 prescriber roles)\n"
    bad = tmp_path / "bad.toml"
    bad.write_text('[medications]\n"urn:local|A1" = ["nothing-known"]\n')
    assert main(["mappings", "validate", str(bad)]) == 2
    assert (
        capsys.readouterr().err
        == f"{bad}:2: medications/urn:local|A1: unknown ingredient 'nothing-known'\n"
    )


def test_conceptmap_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conceptmap = {
        "resourceType": "ConceptMap",
        "url": "http://hospital.example.org/fhir/ConceptMap/formulary",
        "version": "3",
        "status": "active",
        "group": [
            {
                "source": "urn:oid:2.16.840.1.113883.3.9999.1",
                "target": RXNORM,
                "element": [
                    # RxNorm ingredient codes of codes-verified.md / clinical-anchors.md 4.1.
                    {
                        "code": "LF-1",
                        "target": [
                            {"code": "36437", "display": "sertraline", "equivalence": "equivalent"}
                        ],
                    },
                    {
                        "code": "LF-2",
                        "target": [
                            {
                                "code": "352364",
                                "display": "buprenorphine / naloxone",
                                "equivalence": "equivalent",
                            }
                        ],
                    },
                    {
                        "code": "LF-3",
                        "target": [{"code": "7242", "display": "naloxone", "equivalence": "wider"}],
                    },
                    {
                        "code": "LF-4",
                        "target": [
                            {"code": "999999", "display": "cisplatin", "equivalence": "equal"}
                        ],
                    },
                ],
            }
        ],
    }
    text, skipped = conceptmap_to_mapping(conceptmap)
    assert text == (
        'source = "FHIR ConceptMap http://hospital.example.org/fhir/ConceptMap/formulary'
        ' version 3"\n'
        "\n[medications]\n"
        '"urn:oid:2.16.840.1.113883.3.9999.1|LF-1" = ["sertraline"]\n'
        '"urn:oid:2.16.840.1.113883.3.9999.1|LF-2" = ["buprenorphine", "naloxone"]\n'
    )
    assert skipped == [
        "urn:oid:2.16.840.1.113883.3.9999.1|LF-3: equivalence wider",
        "urn:oid:2.16.840.1.113883.3.9999.1|LF-4: target 999999 is no known ingredient",
    ]
    source = tmp_path / "cm.json"
    source.write_text(json.dumps(conceptmap))
    out = tmp_path / "mappings" / "formulary.toml"
    assert main(["mappings", "import-conceptmap", str(source), "--out", str(out)]) == 0
    assert out.read_text() == text
    assert main(["mappings", "validate", str(out)]) == 0


def test_coverage_lists_unmapped_codes_most_frequent_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    assert main(["sync", "--db", db]) == 0  # the example data
    capsys.readouterr()
    assert main(["mappings", "coverage", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    counts = [int(line.split()[0]) for line in lines]
    assert counts == sorted(counts, reverse=True)
    assert any("Lisinopril" in line for line in lines)
    assert not any("Sertraline" in line for line in lines)


def test_a_running_server_picks_up_a_changed_mapping(tmp_path: Path) -> None:
    from fhirbridge.bootstrap import build_services
    from fhirbridge.mapping_tools import MappingWatcher
    from fhirbridge.settings import Settings

    services = build_services(Settings(), database_url="sqlite://")
    pattern = str(tmp_path / "*.toml")
    now = [100.0]
    watcher = MappingWatcher(services, (pattern,), lambda: now[0])
    concept = {"coding": [{"system": "urn:local", "code": "A1"}], "text": "Formulary item A1"}
    assert not services.terminology.classify(concept).known
    (tmp_path / "site.toml").write_text(
        '[medications]\n"urn:local|A1" = ["buprenorphine", "naloxone"]\n'
    )
    now[0] += 0.5
    assert watcher.refresh() is False  # checked at most once a second
    now[0] += 1.0
    assert watcher.refresh() is True
    drug = services.terminology.classify(concept)
    assert (drug.ingredients, drug.groups) == (("buprenorphine", "naloxone"), frozenset({"moud"}))
    now[0] += 2.0
    assert watcher.refresh() is False  # unchanged files: nothing reloaded
    services.close()
