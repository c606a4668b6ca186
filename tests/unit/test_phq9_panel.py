"""PHQ-9 sent as a panel (LOINC 44249-1) with its total (44261-6) and item 9 (44260-8) as
`component`, the form some EHRs send instead of member Observations (codes-verified.md
section 2, all VERIFIED): mapped into records under the panel's reference, and read by the
PHQ-9 rules exactly as separate Observations are. as_of = 2025-06-30."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirbridge.adherence import assess_phq9_suicidality, assess_phq9_worsening
from fhirbridge.findings import Severity
from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.mappers.observation import to_components, to_observation
from fhirbridge.mappers.patient_records import to_patient_records

AS_OF = date(2025, 6, 30)
LOINC = "http://loinc.org"


def _panel(rid: str, day: str, total: Any, item9: Any, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": f"{day}T10:00:00-05:00",
        "code": {"coding": [{"system": LOINC, "code": "44249-1"}]},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "44261-6"}]}, **total},
            {"code": {"coding": [{"system": LOINC, "code": "44260-8"}]}, **item9},
            {"code": {"text": "an uncoded note"}, "valueString": "not read"},  # no code
            {"code": {"coding": [{"system": LOINC, "code": "44259-0"}]}},  # no value
        ],
        **extra,
    }


def test_coded_components_with_values_become_records_under_the_panel() -> None:
    several_days = {"coding": [{"system": LOINC, "code": "LA6569-3"}], "text": "Several days"}
    resource = _panel(
        "panel-1", "2025-06-20", {"valueInteger": 17}, {"valueCodeableConcept": several_days}
    )
    panel = to_observation(resource)
    components = to_components(resource, panel)
    assert [(c.ref, sorted(c.codes), c.value_number, c.value_text) for c in components] == [
        ("Observation/panel-1", [f"{LOINC}|44261-6"], 17, None),
        ("Observation/panel-1", [f"{LOINC}|44260-8"], None, "Several days"),
    ]
    assert {c.effective for c in components} == {date(2025, 6, 20)}
    assert {c.patient for c in components} == {"Patient/p1"}


def _records(*resources: dict[str, Any]):  # type: ignore[no-untyped-def]
    ctx = MappingContext(terminology=load_terminology(), medications={})
    records, skips = to_patient_records("Patient/p1", list(resources), ctx)
    assert skips == []
    return records


def test_a_panel_total_after_a_separate_total_is_worsening() -> None:
    # 9 on 2025-05-01 as its own Observation; 16 on 2025-06-20 inside a panel: +7 within 50
    # days → phq9-worsening, moderate, the panel and the earlier total as evidence.
    earlier = {
        "resourceType": "Observation",
        "id": "total-1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-05-01",
        "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
        "valueInteger": 9,
    }
    later = _panel("panel-2", "2025-06-20", {"valueInteger": 16}, {"valueInteger": 0})
    [finding] = assess_phq9_worsening(_records(earlier, later), as_of=AS_OF)
    assert finding.summary == "PHQ-9 16 on 2025-06-20 from 9 on 2025-05-01 (+7)"
    assert finding.severity is Severity.MODERATE
    assert finding.evidence == ("Observation/panel-2", "Observation/total-1")
    assert assess_phq9_suicidality(_records(earlier, later), as_of=AS_OF) == []


def test_item9_above_zero_inside_a_panel_is_suicidality() -> None:
    # Item 9 answered 2 ("More than half the days", as a quantity) on 2025-06-25 → high.
    panel = _panel(
        "panel-3", "2025-06-25", {"valueQuantity": {"value": 12}}, {"valueQuantity": {"value": 2}}
    )
    [finding] = assess_phq9_suicidality(_records(panel), as_of=AS_OF)
    assert finding.summary == ("PHQ-9 item 9 (thoughts of self-harm) answered 2 on 2025-06-25")
    assert finding.severity is Severity.HIGH
    assert finding.evidence == ("Observation/panel-3",)
