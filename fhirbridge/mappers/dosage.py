"""Pure: daily dose from FHIR Dosage (dosageInstruction), for quantity-to-days conversion.

Follows the CMS/QI-Core CumulativeMedicationDuration logic (clinical-anchors.md 2.2):
dose = end of doseRange ?? doseQuantity; doses per day = frequency(Max) per period converted to
days, else the count of timeOfDay, else 1. Only the first dosage is read: CMD requires a single
dosage and split dosing is rare in this population's orders. Days from a quantity are whole
days, rounded down, at least one (`whole_days`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fhirbridge.mappers.datatypes import number

# R4 UnitsOfTime (hl7.org/fhir/R4/valueset-units-of-time.html) as fractions of a day.
_PERIOD_DAYS = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}


def _mapping(value: Any) -> Mapping[str, Any] | None:
    """The value when it is a JSON object; the dict test first (parsed JSON is dicts, and the
    abstract Mapping check costs ten times more on this per-fill path)."""
    return value if type(value) is dict or isinstance(value, Mapping) else None


def _number(value: Any) -> float | None:
    """datatypes.number for the hot path: ints and floats (never bools), as float."""
    if type(value) is int or type(value) is float:
        return float(value)
    return number(value)


def doses_per_day(dosage: Mapping[str, Any]) -> float | None:
    """Administrations per day from `timing.repeat`, None when the timing says nothing usable."""
    timing = _mapping(dosage.get("timing"))
    repeat = _mapping(timing.get("repeat")) if timing is not None else None
    if repeat is None:
        return None
    frequency = _number(repeat.get("frequencyMax")) or _number(repeat.get("frequency"))
    period = _number(repeat.get("period"))
    unit = repeat.get("periodUnit")
    if frequency and period and isinstance(unit, str) and unit in _PERIOD_DAYS:
        return frequency / (period * _PERIOD_DAYS[unit])
    times = repeat.get("timeOfDay")
    if isinstance(times, list) and times:
        return float(len(times))
    return None


def _quantity(value: Any) -> float | None:
    quantity = _mapping(value)
    return _number(quantity.get("value")) if quantity is not None else None


def dose_amount(dosage: Mapping[str, Any]) -> float | None:
    """Units per administration: the high end of doseRange, else doseQuantity."""
    dose_and_rates = dosage.get("doseAndRate")
    if not isinstance(dose_and_rates, list):
        return None
    for item in dose_and_rates:
        dose_and_rate = _mapping(item)
        if dose_and_rate is None:
            continue
        dose_range = _mapping(dose_and_rate.get("doseRange"))
        if dose_range is not None:
            high = _quantity(dose_range.get("high"))
            if high:
                return high
        amount = _quantity(dose_and_rate.get("doseQuantity"))
        if amount:
            return amount
    return None


def daily_dose(dosages: Any) -> float | None:
    """Units per day for the first dosage instruction; None when not derivable.

    A dosage with a dose but no timing counts as once daily (CMD's `?? 1.0`); with neither
    there is nothing to divide by.
    """
    if not isinstance(dosages, list) or not dosages:
        return None
    dosage = _mapping(dosages[0])
    if dosage is None:
        return None
    amount = dose_amount(dosage)
    if amount is None:
        return None
    per_day = doses_per_day(dosage) or 1.0
    return amount * per_day


def whole_days(days: float | None) -> int | None:
    """A days supply as pharmacies count it: whole days, rounded down, at least 1.

    60 tablets at 7 a day last 8.57 days: the patient has 8 full days of doses, not 9 (and
    banker's rounding would make 0.5 days zero days while still claiming a basis). A supply of
    more than nothing is at least one day. None (not derivable) for a missing, zero or negative
    value, so the caller falls through to the next source in the derivation chain.
    """
    if days is None or not days > 0 or math.isinf(days):
        return None
    # 1e-9 absorbs float error such as 30.000000000000004 or 29.999999999999996 from unit maths.
    return max(1, math.floor(days + 1e-9))


def supply_from_quantity(quantity: float | None, per_day: float | None) -> int | None:
    """Whole days a dispensed or ordered quantity lasts at `per_day` units a day (CMD)."""
    if not quantity or not per_day or quantity <= 0 or per_day <= 0:
        return None
    return whole_days(quantity / per_day)
