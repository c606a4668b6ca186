"""The finding key (CONTRACT.md): deterministic from rule, patient and the sorted implicated refs.

Keys become identifiers of resources already written to EHRs (urn:fhirbridge:finding), so the
value itself is pinned: a change here would write every finding a second time.
"""

from __future__ import annotations

from datetime import date

from fhirbridge.findings import Category, Finding, Severity, finding_key


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
