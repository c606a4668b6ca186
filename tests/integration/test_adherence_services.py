"""The analyze service and the timeline service over a real store (SQLite, and PostgreSQL when
configured): imputed days supplies counted in the run report, inpatient stays mapped and
censored, the timeline read back for one patient. Constructed FHIR R4 resources."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.bootstrap import build_services
from fhirbridge.settings import Settings

AS_OF = date(2025, 6, 30)
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _dispense(rid: str, when: str) -> dict[str, Any]:
    # No daysSupply, no quantity, no order: only the HEDIS POD default can give a supply.
    return {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Buprenorphine 8 MG Sublingual Tablet"},
        "whenHandedOver": when,
    }


def _encounter(rid: str, code: str, start: str, end: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"system": ACT, "code": code},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": start, "end": end},
    }


def _source(root: Path) -> Path:
    resources = [
        {"resourceType": "Patient", "id": "p1"},
        _dispense("d1", "2025-06-01T10:00:00-05:00"),
        _dispense("d2", "2025-06-08T10:00:00-05:00"),
        _encounter("e1", "IMP", "2025-06-10T08:00:00-05:00", "2025-06-12T15:00:00-05:00"),
        _encounter("e2", "AMB", "2025-06-20T09:00:00-05:00", "2025-06-20T09:30:00-05:00"),
    ]
    folder = root / "source"
    folder.mkdir()
    (folder / "data.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources))
    return folder


def test_analyze_counts_imputed_supply_and_censors_stays(db_url: str, tmp_path: Path) -> None:
    services = build_services(Settings(database_url=db_url))
    try:
        services.sync(str(_source(tmp_path)), AS_OF, None)
        result = services.analyze(AS_OF, None)
        timeline = services.timeline("Patient/p1", AS_OF)
        missing = services.timeline("Patient/nobody", AS_OF)
    finally:
        services.close()
    report = result.as_report()
    assert report["imputed_days_supply"] == {"pod-default:buprenorphine-oral": 2}
    assert report["mapped"]["Encounter"] == 1
    assert report["skipped_at_analysis"]["Encounter class: AMB"] == 1
    # 06-01 x7 → 06-01..06-07; 06-08 x7: 06-08..06-09, in hospital 06-10..06-12, then the other
    # 5 days 06-13..06-17. Period 06-01..06-30 = 30 - 3 = 27 days; covered 14 → 0.5185.
    (moud,) = [a for a in result.adherence if a.group == "moud"]
    assert (moud.days_covered, moud.days_in_period, moud.value) == (14, 27, 0.5185)
    assert timeline is not None
    assert timeline.groups[0].covered == (
        (date(2025, 6, 1), date(2025, 6, 9)),
        (date(2025, 6, 13), date(2025, 6, 17)),
    )
    assert [f.imputed for f in timeline.fills] == [True, True]
    assert missing is None
