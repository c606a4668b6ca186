"""Pure: one patient's mapped records as compact bytes, and back (the stored mapped records).

Analysis runs daily over every patient while resources change a few at a time, so the
mapped form is kept in the store (store/projection.py) instead of re-parsing and re-mapping
every FHIR body on each run (bench/README.md: parsing and mapping were 60% of the stage).

The encoding is an orjson array per record, dates as ordinals, each distinct Drug once per
patient. Prescribers are not kept: they come from the current Practitioner data at decode
time, as `to_patient_records` attaches them. `decode(encode(r)) == r` is table-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

import orjson

from fhirbridge.mappers.patient_records import Skip
from fhirbridge.records import (
    ConditionRecord,
    Drug,
    EventKind,
    InpatientStay,
    MedicationEvent,
    ObservationRecord,
    PatientRecords,
    Prescriber,
)
from fhirbridge.slotted import slot_builder

FORMAT = 2  # bump when the layout below changes (it is part of the mapping generation)
T = TypeVar("T")
_KINDS = {kind.value: kind for kind in EventKind}


def _day(value: date | None) -> int | None:
    return None if value is None else value.toordinal()


def encode(records: PatientRecords, skips: Sequence[Skip], extra: Any = None) -> bytes:
    """The records (without prescribers) and the skips of one patient; `extra`, JSON values
    worked out from the records by the caller, is kept beside them (`Decoder.decode_parts`)."""
    drugs: dict[Drug, int] = {}
    patient = records.patient
    events = [
        [
            e.ref,
            e.kind.value,
            None if e.patient == patient else e.patient,
            drugs.setdefault(e.drug, len(drugs)),
            e.status,
            e.start.toordinal(),
            e.days_supply,
            e.supply_basis,
            e.imputed,
            _day(e.end),
            e.prescriber,
            e.pharmacy,
            e.order_ref,
            e.quantity,
            e.daily_dose,
            e.refills,
        ]
        for e in records.events
    ]
    return orjson.dumps(
        {
            "f": FORMAT,
            "d": _day(records.deceased),
            "g": [
                [list(d.ingredients), sorted(d.classes), sorted(d.groups), d.code, d.display]
                for d in drugs
            ],
            "e": events,
            "o": [
                [
                    o.ref,
                    None if o.patient == patient else o.patient,
                    sorted(o.codes),
                    o.effective.toordinal(),
                    o.status,
                    o.value_number,
                    o.value_unit,
                    sorted(o.value_codes),
                    o.value_text,
                    sorted(o.interpretation),
                ]
                for o in records.observations
            ],
            "c": [
                [
                    c.ref,
                    None if c.patient == patient else c.patient,
                    sorted(c.codes),
                    c.clinical_status,
                    c.verification_status,
                    _day(c.onset),
                    _day(c.abated),
                    c.text,
                ]
                for c in records.conditions
            ],
            "s": [
                [s.ref, None if s.patient == patient else s.patient, _day(s.start), _day(s.end)]
                for s in records.stays
            ],
            "k": [[s.ref, s.reason, s.dead_letter] for s in skips],
            "x": extra,
        }
    )


class _Days(dict[int | None, date | None]):
    """Ordinal → date, each made once; None → None. A subscript is one C-level dict lookup."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, ordinal: int | None) -> date | None:
        found = self[ordinal] = date.fromordinal(ordinal)  # type: ignore[arg-type]
        return found


# A stored event row straight to a MedicationEvent: kind, patient, drug and days decoded as the
# slots are set (one pass over the row, not a pass to decode and another to build).
_EVENT_ROW: Callable[[list[Any], str, list[Drug], _Days], MedicationEvent] = slot_builder(
    MedicationEvent,
    convert={1: "kinds[v1]", 2: "v2 or patient", 3: "drugs[v3]", 5: "days[v5]", 9: "days[v9]"},
    extra=("patient", "drugs", "days"),
    names={"kinds": _KINDS},
)
_OBSERVATION = slot_builder(ObservationRecord)
_CONDITION = slot_builder(ConditionRecord)
_STAY = slot_builder(InpatientStay)


class Decoder:
    """Decodes stored records; days and drugs are shared between patients (they repeat)."""

    def __init__(self) -> None:
        self._days = _Days()
        self._drugs: dict[tuple[Any, ...], Drug] = {}

    def drug(self, row: list[Any]) -> Drug:
        key = (tuple(row[0]), tuple(row[1]), tuple(row[2]), row[3], row[4])
        found = self._drugs.get(key)
        if found is None:
            found = self._drugs[key] = Drug(
                ingredients=key[0],
                classes=frozenset(key[1]),
                groups=frozenset(key[2]),
                code=row[3],
                display=row[4],
            )
        return found

    def decode(
        self, patient: str, body: bytes, prescribers: Mapping[str, Prescriber] | None = None
    ) -> tuple[PatientRecords, list[Skip]]:
        """The patient's records, with the prescribers of its events attached."""
        records, skips, _ = self.decode_parts(patient, body, prescribers)
        return records, skips

    def decode_parts(
        self, patient: str, body: bytes, prescribers: Mapping[str, Prescriber] | None = None
    ) -> tuple[PatientRecords, list[Skip], Any]:
        """`decode`, and the `extra` kept with the records (None if there was none)."""
        data = orjson.loads(body)
        if data.get("f") != FORMAT:
            raise ValueError(f"stored records of format {data.get('f')!r}, expected {FORMAT}")
        days = self._days
        drugs = [self.drug(row) for row in data["g"]]
        # The rows are decoded in place: the field order is the dataclass order (encode).
        for o in data["o"]:
            o[1], o[2], o[3] = o[1] or patient, frozenset(o[2]), days[o[3]]
            o[7], o[9] = frozenset(o[7]), frozenset(o[9])
        for c in data["c"]:
            c[1], c[2], c[5], c[6] = c[1] or patient, frozenset(c[2]), days[c[5]], days[c[6]]
        events = tuple([_EVENT_ROW(e, patient, drugs, days) for e in data["e"]])
        observations = tuple(map(_OBSERVATION, data["o"]))
        conditions = tuple(map(_CONDITION, data["c"]))
        stays = tuple(_STAY((s[0], s[1] or patient, days[s[2]], days[s[3]])) for s in data["s"])
        used = {e.prescriber for e in events if e.prescriber}
        known = {ref: prescribers[ref] for ref in used if ref in prescribers} if prescribers else {}
        records = PatientRecords(
            patient=patient,
            events=events,
            observations=observations,
            conditions=conditions,
            deceased=days[data["d"]],
            prescribers=known,
            stays=stays,
        )
        skips = [Skip(ref=k[0], reason=k[1], dead_letter=k[2]) for k in data["k"]]
        return records, skips, data.get("x")
