"""Urine drug screens: reading every result form, and the two CDC rec. 10 rules, by hand.

as_of = 2025-06-30 (day 0). Buprenorphine/naloxone -55 x28 covers days -55..-28.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.adherence import (
    Result,
    assess_uds_unexpected_negative,
    assess_uds_unexpected_positive,
    load_observation_codes,
)
from fhirbridge.findings import Severity
from fhirbridge.records import ObservationRecord
from tests.unit.adherence_builders import (
    ALPRAZOLAM,
    BUP_NAL,
    DETECTED,
    NOT_DETECTED,
    OXYCODONE,
    SNOMED,
    day,
    dispense,
    observation,
    records,
)

AS_OF = date(2025, 6, 30)
BUP, NORBUP, FENTANYL, OPIATES = "93494-3", "82371-6", "59673-4", "19295-5"
BENZO, COCAINE = "14316-4", "19359-9"
OPIATES_300 = "70151-6"  # Opiates screen >300 ng/mL: the cutoff is in the term
OPIATES_MASS = "8220-6"  # Opiates mass/volume: no cutoff known


def d(n: int) -> date:
    return day(n, AS_OF)


READINGS = {
    "concept-detected": (observation("x", FENTANYL, d(-1), concept=DETECTED), Result.POSITIVE),
    "concept-not-detected": (
        observation("x", FENTANYL, d(-1), concept=NOT_DETECTED),
        Result.NEGATIVE,
    ),
    "concept-positive": (
        observation("x", FENTANYL, d(-1), concept=f"{SNOMED}|10828004"),
        Result.POSITIVE,
    ),
    "concept-negative": (
        observation("x", FENTANYL, d(-1), concept=f"{SNOMED}|260385009"),
        Result.NEGATIVE,
    ),
    "string-pos": (observation("x", FENTANYL, d(-1), text="POS"), Result.POSITIVE),
    "string-negative": (observation("x", FENTANYL, d(-1), text="Negative"), Result.NEGATIVE),
    # "not detected" contains "detected": negatives are read first.
    "string-not-detected": (
        observation("x", FENTANYL, d(-1), text="Not detected"),
        Result.NEGATIVE,
    ),
    "string-with-note": (
        observation("x", FENTANYL, d(-1), text="Detected (cutoff 1 ng/mL)"),
        Result.POSITIVE,
    ),
    # 350 ng/mL on the >300 ng/mL screen: positive; 250: negative.
    "quantity-over-cutoff": (observation("x", OPIATES_300, d(-1), number=350), Result.POSITIVE),
    "quantity-under-cutoff": (observation("x", OPIATES_300, d(-1), number=250), Result.NEGATIVE),
    # A concentration with no known cutoff is read through its interpretation only.
    "quantity-interpretation": (
        observation("x", OPIATES_MASS, d(-1), number=1200, interpretation="POS"),
        Result.POSITIVE,
    ),
    "quantity-alone-unreadable": (observation("x", OPIATES_MASS, d(-1), number=1200), None),
    "interpretation-nd": (observation("x", FENTANYL, d(-1), interpretation="ND"), Result.NEGATIVE),
    "interpretation-det": (
        observation("x", FENTANYL, d(-1), interpretation="DET"),
        Result.POSITIVE,
    ),
    "free-text-unreadable": (observation("x", FENTANYL, d(-1), text="see comment"), None),
}


@pytest.mark.parametrize(("obs", "expected"), READINGS.values(), ids=READINGS.keys())
def test_read_result(obs: ObservationRecord, expected: Result | None) -> None:
    codes = load_observation_codes()
    analyte = codes.analyte_of(obs)
    assert analyte is not None
    assert codes.read_result(obs, analyte[1]) is expected


def test_codes_table_names_a_source_for_every_code() -> None:
    import tomllib

    from fhirbridge.adherence.codes import default_path

    table = tomllib.loads(default_path().read_text())
    assert all(entry["source"] for entry in table["uds"].values())
    # Every VERIFIED UDS code of codes-verified.md section 2 is in the table.
    assert {"93494-3", "82371-6", "59673-4", "14316-4", "19295-5", "3773-9", "41858-2"} <= set(
        table["uds"]
    )


BUP_FILL = dispense("f", BUP_NAL, d(-55), 28, order="o")


def bup_screen(n: int, bup: str, norbup: str, *, status: str = "final") -> tuple:
    return (
        observation("b", BUP, d(n), concept=bup, status=status),
        observation("n", NORBUP, d(n), concept=norbup, status=status),
    )


NEGATIVES = {
    # Covered on -40, buprenorphine and norbuprenorphine not detected: unexpected.
    "covered-both-negative": ([BUP_FILL], bup_screen(-40, NOT_DETECTED, NOT_DETECTED), True),
    # The specimen on the last covered day (-28) still counts as covered.
    "last-covered-day": ([BUP_FILL], bup_screen(-28, NOT_DETECTED, NOT_DETECTED), True),
    # The day after the supply ran out (-27): not covered, not unexpected.
    "day-after-supply": ([BUP_FILL], bup_screen(-27, NOT_DETECTED, NOT_DETECTED), False),
    # The metabolite is present: the patient takes it.
    "metabolite-positive": ([BUP_FILL], bup_screen(-40, NOT_DETECTED, DETECTED), False),
    # Not prescribed buprenorphine at all: a negative is expected.
    "not-prescribed": ([], bup_screen(-40, NOT_DETECTED, NOT_DETECTED), False),
    # Preliminary results are not acted on.
    "preliminary": (
        [BUP_FILL],
        bup_screen(-40, NOT_DETECTED, NOT_DETECTED, status="preliminary"),
        False,
    ),
}


@pytest.mark.parametrize(("events", "obs", "found"), NEGATIVES.values(), ids=NEGATIVES.keys())
def test_unexpected_negative(events: list, obs: tuple, found: bool) -> None:
    findings = assess_uds_unexpected_negative(records(*events, observations=obs), as_of=AS_OF)
    assert len(findings) == int(found)
    if found:
        (finding,) = findings
        assert finding.severity is Severity.MODERATE
        assert finding.implicated == ("MedicationRequest/o",)
        assert finding.evidence == ("Observation/b", "Observation/n")
        assert "negative for prescribed buprenorphine" in finding.summary


def test_screen_older_than_lookback_is_not_raised() -> None:
    # Covered on -100 (fill -110 x28), negative: older than the 90-day lookback.
    fill = dispense("f", BUP_NAL, d(-110), 28)
    patient = records(fill, observations=bup_screen(-100, NOT_DETECTED, NOT_DETECTED))
    assert assess_uds_unexpected_negative(patient, as_of=AS_OF) == []


POSITIVES = {
    # Fentanyl with no fentanyl prescription: high (overdose risk).
    "fentanyl": ([BUP_FILL], [observation("x", FENTANYL, d(-40), concept=DETECTED)], Severity.HIGH),
    # Fentanyl sent as a string: same reading.
    "fentanyl-string": ([], [observation("x", FENTANYL, d(-40), text="Positive")], Severity.HIGH),
    # Opiates with an oxycodone supply covering days -60..-31, 10 days before: explained.
    "opiates-explained": (
        [dispense("ox", OXYCODONE, d(-60), 30)],
        [observation("x", OPIATES, d(-21), concept=DETECTED)],
        None,
    ),
    # The same supply ended 40 days before the specimen (-70..-41, specimen -1): unexplained.
    "opiates-unexplained": (
        [dispense("ox", OXYCODONE, d(-70), 30)],
        [observation("x", OPIATES, d(-1), concept=DETECTED)],
        Severity.MODERATE,
    ),
    "benzodiazepine-prescribed": (
        [dispense("al", ALPRAZOLAM, d(-20), 30)],
        [observation("x", BENZO, d(-5), concept=DETECTED)],
        None,
    ),
    "cocaine": ([], [observation("x", COCAINE, d(-5), text="POS")], Severity.MODERATE),
    "negative-screen": ([], [observation("x", FENTANYL, d(-5), concept=NOT_DETECTED)], None),
}


@pytest.mark.parametrize(("events", "obs", "severity"), POSITIVES.values(), ids=POSITIVES.keys())
def test_unexpected_positive(events: list, obs: list, severity: Severity | None) -> None:
    findings = assess_uds_unexpected_positive(
        records(*events, observations=tuple(obs)), as_of=AS_OF
    )
    if severity is None:
        assert findings == []
        return
    (finding,) = findings
    assert (finding.severity, finding.evidence, finding.implicated) == (
        severity,
        ("Observation/x",),
        (),
    )
    assert finding.summary.endswith("(not prescribed)")
