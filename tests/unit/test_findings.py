"""The finding key (CONTRACT.md): deterministic from rule, patient and the sorted implicated refs.

Keys become identifiers of resources already written to EHRs (urn:fhirbridge:finding), so the
value itself is pinned: a change here would write every finding a second time.
"""

from __future__ import annotations

from datetime import date

import orjson

from fhirbridge.analysis import analyze_patient
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.findings import Category, Finding, Severity, finding_key
from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.mappers.patient_records import to_patient_records
from tests.unit.test_compact_records import _example_patients


def _finding(implicated: tuple[str, ...], **changes: object) -> Finding:
    fields: dict[str, object] = {
        "rule": "refill-overdue",
        "category": Category.ADHERENCE,
        "severity": Severity.MODERATE,
        "patient": "Patient/p1",
        "summary": "s",
        "detail": "d",
        "implicated": implicated,
        "authority": "a",
        "as_of": date(2026, 6, 30),
    }
    fields.update(changes)
    return Finding(**fields)  # type: ignore[arg-type]


def test_key_is_the_first_128_bits_of_sha256_of_rule_patient_and_sorted_refs() -> None:
    # sha256("refill-overdue\nPatient/p1\nMedicationRequest/a\nMedicationRequest/b"), 32 hex.
    pinned = "5232eaf7f97462d815a4d69691f813d0"
    found = _finding(("MedicationRequest/b", "MedicationRequest/a", "MedicationRequest/b"))
    assert found.key == pinned
    assert found.implicated == ("MedicationRequest/a", "MedicationRequest/b")
    assert finding_key("refill-overdue", "Patient/p1", found.implicated) == pinned


def test_evidence_and_prescribers_do_not_change_the_key_and_are_sorted_sets() -> None:
    found = _finding(
        ("MedicationRequest/a",),
        evidence=["Observation/2", "Observation/1", "Observation/2"],
        prescribers=("Practitioner/b", "Practitioner/a"),
    )
    assert found.key == _finding(("MedicationRequest/a",)).key
    assert found.evidence == ("Observation/1", "Observation/2")
    assert found.prescribers == ("Practitioner/a", "Practitioner/b")
    assert _finding(("MedicationRequest/a",), evidence=[]).evidence == ()


def test_line_is_the_contract_json_of_every_example_finding() -> None:
    ctx = MappingContext(terminology=load_terminology(), medications={})
    found = []
    for patient, resources in _example_patients().items():
        records, _ = to_patient_records(patient, resources, ctx)
        found.extend(analyze_patient(records, as_of=REFERENCE_DATE).findings)
    assert len({f.rule for f in found}) >= 10  # the examples exercise most rules
    quoted = _finding(("MedicationRequest/a",), detail='"*x*"\n\nµg — ü', summary="a\tb")
    for finding in [*found, quoted]:
        assert finding.line() == orjson.dumps(finding.to_json())
        assert Finding.from_line(finding.line()) == finding
