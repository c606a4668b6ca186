"""The reconciliation rules over the shared Synthea patients (../shared/data/synthea/): no error,
the per-rule counts observed, and a sample checked by hand.

What the data holds (checked by hand, see each test): SSRIs, benzodiazepines and opioid
analgesics, but no MOUD and no naloxone; no patient has both an opioid and a benzodiazepine;
no MedicationRequest of the SMART set has a dispenseRequest, so no days supply can be derived
for them and the overlap rules (which judge coverage, never `status` alone) have nothing to
compare. Two patients carry "Opioid abuse (disorder)" (SNOMED 5602001, in the CDC value set)
and both are deceased. So the observed counts are small, and each one is explained below.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhirbridge.analysis import analyze_patient
from fhirbridge.cli import main
from fhirbridge.mappers import MAPPERS, MappingContext, load_terminology
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.reconciliation import assess_oud_untreated
from fhirbridge.records import PatientRecords
from fhirbridge.store import SqlStore, make_engine

MARC_CORKERY = "Patient/76e3464d-4f85-4cbf-af90-0866063056cc"  # hydrocodone 2021-01-12
MARC_HYDROCODONE = "MedicationRequest/ac0a6524-894f-482b-a67a-ffc050a02f5f"
DOUGLAS_WALSH = "Patient/6c1a94c7-5d69-4041-8785-96f2c563ce82"  # clonazepam, then diazepam
GILBERTO_OROSCO = "Patient/d92a3a52-50c3-446f-a3f9-7d34f7680bcb"  # opioid abuse; died 1994
SHERMAN_MCGLYNN = "Patient/ffb8ae8f-8c7f-4475-8c42-d38419108e94"  # opioid abuse; died 2012


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database holding every Synthea file, synced once (the run's own as-of is 2026-06-30)."""
    from tests.conftest import SYNTHEA

    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea data not found at {SYNTHEA}")
    root = tmp_path_factory.mktemp("synthea")
    args = ["--as-of", "2026-06-30", "--out", str(root / "2026-06-30")]
    with contextlib.redirect_stdout(io.StringIO()):  # the run's summary is for people
        code = main(["run", "--source", str(SYNTHEA), *args, "--db", f"sqlite:///{root / 'db'}"])
    assert code == 0
    return root


def _analyze(root: Path, as_of: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = root / as_of
    if not (out / "run-report.json").exists():
        assert (
            main(
                ["analyze", "--as-of", as_of, "--out", str(out), "--db", f"sqlite:///{root / 'db'}"]
            )
            == 0
        )
    capsys.readouterr()  # the printed summary is for people, not for this test's output
    report: dict[str, Any] = json.loads((out / "run-report.json").read_text())
    report["_findings"] = [
        json.loads(x) for x in (out / "findings.ndjson").read_text().splitlines()
    ]
    return report


def _records(root: Path, patient: str) -> PatientRecords:
    store = SqlStore(make_engine(f"sqlite:///{root / 'db'}"))
    ctx = MappingContext(terminology=load_terminology(), medications={})
    [(found, resources)] = list(store.resources_by_patient(MAPPERS, patients=[patient]))
    store.engine.dispose()
    return to_patient_records(found, resources, ctx)[0]


def test_run_has_no_error_and_no_finding_on_2026_06_30(
    synced: Path, synthea_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _analyze(synced, "2026-06-30", capsys)
    assert report["patients_analyzed"] == 52
    # The two dead letters are the folders' manifest.json files (JSON arrays, not FHIR).
    assert report["dead_lettered_at_sync"] == 2
    assert report["skipped_at_sync"]["dead letter: not a JSON object"] == 2
    assert report["findings"] == {}
    assert report["_findings"] == []


def test_counts_on_2021_03_31_and_the_hydrocodone_patient_by_hand(
    synced: Path, synthea_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2021-03-31 is the end of the SMART set's data. Marc Corkery's hydrocodone/acetaminophen
    # order of 2021-01-12 (78 days before) is opioid exposure; his record has no naloxone; no
    # benzodiazepine, no MOUD: naloxone-missing, moderate. Nothing else fires.
    report = _analyze(synced, "2021-03-31", capsys)
    assert report["findings"] == {"naloxone-missing": 1}
    [finding] = report["_findings"]
    assert (finding["patient"], finding["rule"], finding["severity"]) == (
        MARC_CORKERY,
        "naloxone-missing",
        "moderate",
    )
    assert finding["implicated"] == [MARC_HYDROCODONE]
    assert finding["summary"] == "On hydrocodone with no rescue naloxone on record: offer naloxone"


def test_benzodiazepine_patient_by_hand(
    synced: Path, synthea_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Douglas Walsh: clonazepam 2019-02-27 (stopped), diazepam 2019-11-13 (active), no opioid.
    # Neither order has a days supply, so there is no coverage: no duplicate-therapy, and no
    # opioid for the opioid rules. At 2019-12-31 nothing fires for him (or anyone).
    records = _records(synced, DOUGLAS_WALSH)
    benzos = [e for e in records.events if "benzodiazepine" in e.drug.classes]
    assert [(e.start, e.drug.ingredients, e.days_supply) for e in benzos] == [
        (date(2019, 2, 27), ("clonazepam",), None),
        (date(2019, 11, 13), ("diazepam",), None),
    ]
    assert _analyze(synced, "2019-12-31", capsys)["findings"] == {}


@pytest.mark.parametrize(
    ("patient", "died"),
    [(GILBERTO_OROSCO, date(1994, 4, 11)), (SHERMAN_MCGLYNN, date(2012, 7, 31))],
    ids=["gilberto-orosco", "sherman-mcglynn"],
)
def test_deceased_patients_with_opioid_abuse_raise_nothing(
    synced: Path, synthea_dir: Path, patient: str, died: date
) -> None:
    # Active "Opioid abuse (disorder)" and never any MOUD: the rule itself fires; but both
    # patients died (1994, 2012), so analysis raises no finding about them.
    records = _records(synced, patient)
    assert records.deceased == died
    assert [f.rule for f in assess_oud_untreated(records, as_of=date(2026, 6, 30))] == [
        "oud-untreated"
    ]
    assert analyze_patient(records, as_of=date(2026, 6, 30)).findings == ()
