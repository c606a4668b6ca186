"""The Synthea patients (../shared/data/synthea/, not written by this project) through sync and
analyze from files: no error, and every resource not used is counted under a reason."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from fhirbridge.bootstrap import build_services
from fhirbridge.settings import Settings

# Types analysis maps into records and counts as mapped (services.AnalyzeResult).
COUNTED = (
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "Observation",
    "Encounter",
)
REASON = re.compile(r"^[A-Za-z]+ (fill [a-z-]+|[A-Za-z.\[\]]+: .+)$")


@pytest.mark.parametrize("as_of", [date(2012, 12, 31), date(2026, 6, 30)])
def test_synthea_runs_and_every_skip_has_a_reason(
    synthea_dir: Path, tmp_path: Path, as_of: date
) -> None:
    services = build_services(Settings(database_url=f"sqlite:///{tmp_path / 'fb.db'}"))
    try:
        counts = services.sync(str(synthea_dir), as_of, None).as_report()
        report = services.analyze(as_of, None).as_report()
        stored = services.store.count_resources()
    finally:
        services.close()
    # Sync: each resource read was stored or skipped under a reason ("type not used: X",
    # "dead letter: <why>").
    read = sum(counts["resources_read"].values())
    assert read == sum(counts["resources_stored"].values()) + sum(
        counts["skipped_at_sync"].values()
    )
    assert all(
        k.startswith(("type not used: ", "dead letter: ")) for k in counts["skipped_at_sync"]
    )
    # Analysis: 52 patients; each resource of a mapped type became a record or a skip whose key
    # names the type and the reason ("Encounter class: AMB", "MedicationRequest fill
    # no-days-supply" for a usable order whose supply cannot be derived).
    assert report["patients_analyzed"] == 52
    skipped = report["skipped_at_analysis"]
    assert all(REASON.match(key) for key in skipped), skipped
    resource_skips = Counter()
    for key, n in skipped.items():
        if " fill " not in key:
            resource_skips[key.split(" ", 1)[0]] += n
    for rtype in COUNTED:
        assert report["mapped"].get(rtype, 0) + resource_skips[rtype] == stored.get(rtype, 0), rtype
    # Synthea has inpatient encounters (class IMP): they are stays, the rest are counted skips.
    assert report["mapped"]["Encounter"] == 209
    assert skipped["Encounter class: AMB"] == 1950
