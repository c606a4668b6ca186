"""Daily dose from Dosage (mappers/dosage.py), after CMS CumulativeMedicationDuration.

clinical-anchors.md 2.2: dose = end of doseRange ?? doseQuantity; doses per day =
ToDaily(frequencyMax ?? frequency, period) ?? Count(timeOfDay) ?? 1.0.
Daily dose = dose × doses/day.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhirbridge.mappers.dosage import daily_dose, doses_per_day


def dosage(
    dose: float | None = 1, dose_range: tuple[float, float] | None = None, **repeat: Any
) -> dict[str, Any]:
    """A Dosage with doseQuantity (or doseRange low..high) and timing.repeat fields."""
    out: dict[str, Any] = {}
    if dose_range is not None:
        low, high = dose_range
        out["doseAndRate"] = [{"doseRange": {"low": {"value": low}, "high": {"value": high}}}]
    elif dose is not None:
        out["doseAndRate"] = [{"doseQuantity": {"value": dose, "unit": "TAB"}}]
    if repeat:
        out["timing"] = {"repeat": repeat}
    return out


CASES = [
    # 1 tab, 2 per 1 day → 1 × 2/1 = 2 per day.
    pytest.param([dosage(frequency=2, period=1, periodUnit="d")], 2.0, id="bid"),
    # 1 tab every 12 h → 1 / (12/24 d) = 2 per day.
    pytest.param([dosage(frequency=1, period=12, periodUnit="h")], 2.0, id="q12h"),
    # Once a week → 1/7 per day (a 4-tablet fill lasts 28 days).
    pytest.param([dosage(frequency=1, period=1, periodUnit="wk")], 1 / 7, id="weekly"),
    # Monthly injection (extended-release buprenorphine): 1 per 1 mo = 1/30 per day.
    pytest.param([dosage(frequency=1, period=1, periodUnit="mo")], 1 / 30, id="monthly"),
    # 2 tabs three times a day → 2 × 3 = 6.
    pytest.param([dosage(dose=2, frequency=3, period=1, periodUnit="d")], 6.0, id="2-tabs-tid"),
    # Half a tablet twice a day → 0.5 × 2 = 1.
    pytest.param([dosage(dose=0.5, frequency=2, period=1, periodUnit="d")], 1.0, id="half-bid"),
    # "1 to 4 times a day": frequencyMax wins (the supply must cover the most allowed use).
    pytest.param(
        [dosage(frequency=1, frequencyMax=4, period=1, periodUnit="d")], 4.0, id="frequencyMax-wins"
    ),
    # timeOfDay 08:00 and 20:00 with no frequency → 2 per day.
    pytest.param([dosage(timeOfDay=["08:00:00", "20:00:00"])], 2.0, id="timeOfDay-count"),
    # Frequency per period beats timeOfDay (CMD order).
    pytest.param(
        [dosage(frequency=3, period=1, periodUnit="d", timeOfDay=["08:00:00"])],
        3.0,
        id="frequency-before-timeOfDay",
    ),
    # doseRange 1..2 tabs once a day → high end 2.
    pytest.param(
        [dosage(dose_range=(1, 2), frequency=1, period=1, periodUnit="d")], 2.0, id="doseRange-high"
    ),
    # A dose and no timing → once daily (CMD `?? 1.0`): 2 tabs → 2 per day.
    pytest.param([dosage(dose=2)], 2.0, id="no-timing-once-daily"),
    # A period with no periodUnit cannot be converted → timeOfDay absent → once daily.
    pytest.param([dosage(frequency=2, period=1)], 1.0, id="no-periodUnit-once-daily"),
    # Only the first dosage is read (CMD requires a single dosage): 1/day, not 3/day.
    pytest.param(
        [
            dosage(frequency=1, period=1, periodUnit="d"),
            dosage(frequency=3, period=1, periodUnit="d"),
        ],
        1.0,
        id="first-dosage-only",
    ),
    # No dose → nothing to multiply: None (quantity cannot be converted to days).
    pytest.param([dosage(dose=None, frequency=2, period=1, periodUnit="d")], None, id="no-dose"),
    pytest.param([{"text": "take as directed"}], None, id="text-only"),
    # Malformed timing (a string where an object belongs): read as no timing, once daily, not
    # a crash (tolerant reader).
    pytest.param(
        [{"timing": "daily", "doseAndRate": [{"doseQuantity": {"value": 2}}]}],
        2.0,
        id="malformed-timing",
    ),
    pytest.param(
        [{"doseAndRate": {"doseQuantity": {"value": 2}}}], None, id="doseAndRate-not-list"
    ),
    pytest.param([], None, id="empty-list"),
    pytest.param(None, None, id="absent"),
]


@pytest.mark.parametrize(("dosages", "expected"), CASES)
def test_daily_dose(dosages: Any, expected: float | None) -> None:
    if expected is None:
        assert daily_dose(dosages) is None
    else:
        assert daily_dose(dosages) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        ({"frequency": 1, "period": 8, "periodUnit": "h"}, 3.0),  # every 8 h → 3 per day
        ({"frequency": 1, "period": 2, "periodUnit": "d"}, 0.5),  # every other day
        ({"frequency": 1, "period": 1, "periodUnit": "a"}, 1 / 365),  # yearly
        ({"frequency": 2, "period": 1, "periodUnit": "fortnight"}, None),  # not a UnitsOfTime code
        ({}, None),
    ],
    ids=["q8h", "qod", "yearly", "bad-unit", "empty-repeat"],
)
def test_doses_per_day(repeat: dict, expected: float | None) -> None:
    got = doses_per_day({"timing": {"repeat": repeat}})
    assert got == (pytest.approx(expected) if expected is not None else None)
