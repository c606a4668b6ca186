"""PHQ-9 warning signs, worked by hand. as_of = 2025-06-30 (day 0). Total 44261-6, item 9
44260-8 (codes-verified.md section 2)."""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import assess_phq9_suicidality, assess_phq9_worsening
from fhirbridge.findings import Severity
from fhirbridge.records import ObservationRecord
from tests.unit.adherence_builders import day, observation, records

AS_OF = date(2025, 6, 30)
TOTAL, ITEM9 = "44261-6", "44260-8"


def d(n: int) -> date:
    return day(n, AS_OF)


def total(ref: str, n: int, score: float, **kw: object) -> ObservationRecord:
    return observation(ref, TOTAL, d(n), number=score, **kw)  # type: ignore[arg-type]


WORSENING = {
    # 8 on -75, 15 on -14: +7 within 61 days → worsening, moderate.
    "rise-of-7": (
        [total("a", -75, 8), total("b", -14, 15)],
        ("PHQ-9 15 on 2025-06-16 from 8 on 2025-04-16 (+7)", Severity.MODERATE),
    ),
    # +5 exactly is a clinically meaningful change.
    "rise-of-5": (
        [total("a", -40, 10), total("b", -10, 15)],
        ("PHQ-9 15 on 2025-06-20 from 10 on 2025-05-21 (+5)", Severity.MODERATE),
    ),
    # +4: not enough.
    "rise-of-4": ([total("a", -40, 10), total("b", -10, 14)], None),
    # The previous total is 91 days before the latest: nothing to compare with.
    "previous-too-old": ([total("a", -101, 5), total("b", -10, 14)], None),
    # Severe (20+) on its own, even without a previous score: high.
    "severe": ([total("b", -10, 21)], ("PHQ-9 21 on 2025-06-20", Severity.HIGH)),
    # The latest score is 91 days old: not current.
    "latest-too-old": ([total("a", -120, 5), total("b", -91, 22)], None),
    # Improving: 12 → 11.
    "improving": ([total("a", -75, 12), total("b", -14, 11)], None),
    # An amended result counts; an entered-in-error one never reaches the rules (mapper).
    "amended": (
        [total("a", -30, 5), total("b", -3, 12, status="amended")],
        ("PHQ-9 12 on 2025-06-27 from 5 on 2025-05-31 (+7)", Severity.MODERATE),
    ),
}


@pytest.mark.parametrize(("obs", "expected"), WORSENING.values(), ids=WORSENING.keys())
def test_worsening(obs: list[ObservationRecord], expected: tuple[str, Severity] | None) -> None:
    findings = assess_phq9_worsening(records(observations=tuple(obs)), as_of=AS_OF)
    if expected is None:
        assert findings == []
        return
    (finding,) = findings
    assert (finding.summary, finding.severity) == expected
    assert finding.evidence == tuple(sorted(f"Observation/{o.ref.split('/')[1]}" for o in obs[-2:]))


def item9(
    ref: str, n: int, score: float | None = None, text: str | None = None
) -> ObservationRecord:
    return observation(ref, ITEM9, d(n), number=score, text=text)


SUICIDALITY = {
    "item9-2": ([item9("a", -75, 0), item9("b", -14, 2)], ("Observation/b",)),
    # The answer as text ("Several days" = 1).
    "item9-text": ([item9("b", -14, text="Several days")], ("Observation/b",)),
    "item9-zero": ([item9("a", -14, 0)], None),
    # A later answer of zero after a re-screen supersedes the positive one.
    "superseded": ([item9("a", -30, 1), item9("b", -5, 0)], None),
    # Older than the 90-day lookback.
    "too-old": ([item9("a", -95, 3)], None),
}


@pytest.mark.parametrize(("obs", "evidence"), SUICIDALITY.values(), ids=SUICIDALITY.keys())
def test_suicidality(obs: list[ObservationRecord], evidence: tuple[str, ...] | None) -> None:
    findings = assess_phq9_suicidality(records(observations=tuple(obs)), as_of=AS_OF)
    if evidence is None:
        assert findings == []
        return
    (finding,) = findings
    assert (finding.severity, finding.evidence, finding.implicated) == (Severity.HIGH, evidence, ())
    assert finding.summary.startswith("PHQ-9 item 9 (thoughts of self-harm) answered")
