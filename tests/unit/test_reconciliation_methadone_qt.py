"""methadone-qt: methadone supply and the latest QTc (Krantz 2009: 450-500 moderate, >500 high).

as_of 2025-03-31; methadone in the last 90 days; the QTc from the last 365 days.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import MethadoneQtParams, assess_methadone_qt
from fhirbridge.records import MedicationEvent, ObservationRecord, PatientRecords
from tests.unit.factories import order

AS_OF = date(2025, 3, 31)
LOINC = "http://loinc.org"
METHADONE = "Methadone Hydrochloride 10 MG Oral Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"


def _qtc(ref: str, day: date, value: float, code: str = "8636-3") -> ObservationRecord:
    return ObservationRecord(
        ref=f"Observation/{ref}",
        patient="Patient/p1",
        codes=frozenset({f"{LOINC}|{code}"}),
        effective=day,
        status="final",
        value_number=value,
    )


def _patient(*items: MedicationEvent | ObservationRecord) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=tuple(i for i in items if isinstance(i, MedicationEvent)),
        observations=tuple(i for i in items if isinstance(i, ObservationRecord)),
    )


def _methadone() -> MedicationEvent:
    return order("met", METHADONE, date(2025, 3, 1), 30, "Practitioner/add")


def test_qtc_above_500_is_high_with_the_ecg_as_evidence() -> None:
    records = _patient(
        _methadone(), _qtc("old", date(2025, 1, 5), 440), _qtc("new", date(2025, 3, 20), 510)
    )
    [finding] = assess_methadone_qt(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "methadone-qt",
        "high",
        "monitoring",
    )
    assert finding.implicated == ("MedicationRequest/met",)
    assert finding.evidence == ("Observation/new",)
    assert finding.summary == "Methadone with QTc 510 ms (> 500 ms) on 2025-03-20: review"
    assert "Latest QTc **510 ms** on 2025-03-20 (Observation/new)" in finding.detail
    assert "without interrupting treatment (FDA 2017)" in finding.detail
    assert "stop" not in finding.detail.lower()
    assert finding.authority.startswith("Methadone boxed warning")


@pytest.mark.parametrize(
    ("value", "severity"),
    [(449, None), (450, "moderate"), (500, "moderate"), (501, "high"), (0.52, "high")],
    ids=["449", "450", "500", "501", "seconds"],
)
def test_thresholds(value: float, severity: str | None) -> None:
    records = _patient(_methadone(), _qtc("q", date(2025, 3, 20), value))
    assert [f.severity.value for f in assess_methadone_qt(records, as_of=AS_OF)] == (
        [severity] if severity else []
    )


def test_moderate_wording() -> None:
    [finding] = assess_methadone_qt(
        _patient(_methadone(), _qtc("q", date(2025, 3, 20), 470)), as_of=AS_OF
    )
    assert finding.summary == "Methadone with QTc 470 ms (450-500 ms) on 2025-03-20: monitor"


@pytest.mark.parametrize("code", ["76635-2", "76634-5"])
def test_method_specific_qtc_codes_count(code: str) -> None:
    records = _patient(_methadone(), _qtc("q", date(2025, 3, 20), 520, code))
    assert len(assess_methadone_qt(records, as_of=AS_OF)) == 1


def test_only_the_latest_qtc_counts() -> None:
    # 520 in January, 440 after a dose change in March: no finding.
    records = _patient(
        _methadone(), _qtc("a", date(2025, 1, 10), 520), _qtc("b", date(2025, 3, 10), 440)
    )
    assert assess_methadone_qt(records, as_of=AS_OF) == []


@pytest.mark.parametrize(
    "items",
    [
        [_qtc("q", date(2025, 3, 20), 520)],  # no methadone
        [order("bup", BUP_NAL, date(2025, 3, 1), 28, None), _qtc("q", date(2025, 3, 20), 520)],
        [order("met", METHADONE, date(2024, 11, 1), 30, None), _qtc("q", date(2025, 3, 20), 520)],
        [order("met", METHADONE, date(2025, 3, 1), 30, None), _qtc("q", date(2024, 3, 1), 520)],
    ],
    ids=["no-methadone", "buprenorphine", "methadone-ended", "qtc-older-than-a-year"],
)
def test_near_misses(items: list[MedicationEvent | ObservationRecord]) -> None:
    assert assess_methadone_qt(_patient(*items), as_of=AS_OF) == []


def test_limits_are_configurable() -> None:
    records = _patient(_methadone(), _qtc("q", date(2025, 3, 20), 470))
    strict = MethadoneQtParams(moderate_ms=480)
    assert assess_methadone_qt(records, as_of=AS_OF, params=strict) == []
