"""FHIR R4 dicts → records (mappers/). Fill dates and days supply: CONTRACT.md "PDC as computed"
and clinical-anchors.md 2.2 (CMS CumulativeMedicationDuration)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers import (
    MappingContext,
    load_role_table,
    load_terminology,
    to_dispense,
    to_observation,
    to_order,
    to_prescriber,
    to_statement,
)
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.records import EventKind, PrescriberRole

CTX = MappingContext(terminology=load_terminology())  # ingest: no Medications at hand
STORE = MappingContext(terminology=CTX.terminology, medications={})  # analysis: store consulted
SERTRALINE = {"text": "Sertraline 50 MG Oral Tablet"}
BASE = "https://ehr.example/fhir/"
LOINC, SCT = "http://loinc.org", "http://snomed.info/sct"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
NUCC = "http://nucc.org/provider-taxonomy"


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def days(value: float, code: str = "d") -> dict[str, Any]:
    return {"value": value, "system": "http://unitsofmeasure.org", "code": code}


def per_day(times: int) -> list[dict[str, Any]]:
    """dosageInstruction: 1 tablet `times` per 1 day."""
    repeat = {"frequency": times, "period": 1, "periodUnit": "d"}
    return [{"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": {"value": 1}}]}]


def build(rtype: str, rid: str, base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A resource: `base` updated with `fields`; a field set to None is removed."""
    res = {"resourceType": rtype, "id": rid, "subject": ref("Patient/p1"), **base, **fields}
    return {k: v for k, v in res.items() if v is not None}


def order(**fields: Any) -> dict[str, Any]:
    base = {"status": "active", "intent": "order", "medicationCodeableConcept": SERTRALINE}
    base |= {"authoredOn": "2025-01-05", "requester": ref("Practitioner/7")}
    base |= {
        "dosageInstruction": per_day(1),
        "dispenseRequest": {"expectedSupplyDuration": days(30)},
    }
    return build("MedicationRequest", "o1", base, fields)


def dispense(**fields: Any) -> dict[str, Any]:
    base = {"status": "completed", "medicationCodeableConcept": SERTRALINE}
    base |= {"whenHandedOver": "2025-03-01", "daysSupply": days(30)}
    return build("MedicationDispense", "d1", base, fields)


def statement(**fields: Any) -> dict[str, Any]:
    base = {"status": "active", "medicationCodeableConcept": SERTRALINE}
    return build("MedicationStatement", "s1", base, fields)


def obs(**fields: Any) -> dict[str, Any]:
    code = {"coding": [{"system": LOINC, "code": "59673-4"}]}  # fentanyl urine screen
    base = {"status": "final", "effectiveDateTime": "2025-01-02", "code": code}
    return build("Observation", "x1", base, fields)


def by_id(cases: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """parametrize kwargs from {id: case}."""
    return {"argvalues": list(cases.values()), "ids": list(cases)}


# ---- MedicationRequest ---------------------------------------------------------------------

ESD = "expectedSupplyDuration"
SUPPLY = {
    "esd-d": ({ESD: days(30)}, per_day(1), 30, ESD),
    "esd-wk": ({ESD: days(4, "wk")}, per_day(1), 28, ESD),
    "esd-mo": ({ESD: days(3, "mo")}, per_day(1), 90, ESD),  # a month supply counts 30 days
    # The stated duration wins over quantity: 90 tabs at 1/day would be 90, not 30.
    "esd-beats-quantity": ({ESD: days(30), "quantity": {"value": 90}}, per_day(1), 30, ESD),
    # 60 tabs ÷ (1 tab × 2/day) = 30 days.
    "quantity-bid": ({"quantity": {"value": 60}}, per_day(2), 30, "quantity/daily-dose"),
    # Quantity but no dose to divide by, or nothing at all: never guessed.
    "no-dosage": ({"quantity": {"value": 60}}, None, None, "none"),
    "nothing": ({}, per_day(1), None, "none"),
}


@pytest.mark.parametrize(("request_", "dosage", "supply", "basis"), **by_id(SUPPLY))
def test_order_days_supply(request_: dict, dosage: Any, supply: int | None, basis: str) -> None:
    event = to_order(order(dispenseRequest=request_, dosageInstruction=dosage), CTX)
    assert (event.days_supply, event.supply_basis) == (supply, basis)


VALIDITY = {"validityPeriod": {"start": "2025-02-01"}}
START = {
    # The date as written: 23:30 at -05:00 is 5 January for the patient (04:30Z on the 6th).
    "tz-no-utc-shift": ({"authoredOn": "2025-01-05T23:30:00-05:00"}, date(2025, 1, 5)),
    "validity-start": ({"authoredOn": None, "dispenseRequest": VALIDITY}, date(2025, 2, 1)),
    "authoredOn-first": ({"dispenseRequest": VALIDITY}, date(2025, 1, 5)),
}


@pytest.mark.parametrize(("fields", "start"), **by_id(START))
def test_order_start(fields: dict, start: date) -> None:
    assert to_order(order(**fields), CTX).start == start


def by_ref(target: str) -> dict[str, Any]:
    return {"medicationCodeableConcept": None, "medicationReference": ref(target)}


REJECTED = {
    "cancelled": ({"status": "cancelled"}, NotApplicable, "status"),
    "entered-in-error": ({"status": "entered-in-error"}, NotApplicable, "status"),
    "draft": ({"status": "draft"}, NotApplicable, "status"),
    "plan": ({"intent": "plan"}, NotApplicable, "intent"),
    "proposal": ({"intent": "proposal"}, NotApplicable, "intent"),
    "no-subject": ({"subject": None}, MappingError, "subject"),
    "group-subject": ({"subject": ref("Group/g1")}, MappingError, "subject"),
    "no-medication": ({"medicationCodeableConcept": None}, MappingError, "medication[x]"),
    "no-date": ({"authoredOn": None}, MappingError, "authoredOn"),
    # A contained reference must resolve; so must a stored one once the store is consulted.
    "contained-missing": (by_ref("#m9"), MappingError, "medicationReference"),
    "stored-missing": (by_ref("Medication/x"), MappingError, "medicationReference"),
}


@pytest.mark.parametrize(("fields", "error", "path"), **by_id(REJECTED))
def test_order_rejected(fields: dict, error: type[MappingError], path: str) -> None:
    with pytest.raises(error) as info:
        to_order(order(**fields), STORE)
    assert (type(info.value), info.value.path) == (error, path)


@pytest.mark.parametrize("status", ["active", "completed", "stopped", "on-hold", "unknown"])
def test_order_statuses_kept(status: str) -> None:
    # An order that was stopped still authorized the supply up to then.
    assert to_order(order(status=status), CTX).status == status


MED = {"resourceType": "Medication", "id": "m1", "code": {"text": "Buprenorphine 8 MG SL Tab"}}
REFERENCES = {
    "contained": ("#m1", {"contained": [MED]}, None, {"buprenorphine"}),
    "store": ("Medication/m1", {}, {"Medication/m1": MED}, {"buprenorphine"}),
    "absolute-url": (BASE + "Medication/m1", {}, {"Medication/m1": MED}, {"buprenorphine"}),
    # At ingest the Medication may not have arrived yet: unknown drug, not an error.
    "ingest-unresolved": ("Medication/m2", {}, None, set()),
}


@pytest.mark.parametrize(("target", "extra", "medications", "classes"), **by_id(REFERENCES))
def test_order_medication_reference(
    target: str, extra: dict, medications: Any, classes: set
) -> None:
    ctx = MappingContext(terminology=CTX.terminology, medications=medications)
    drug = to_order(order(**by_ref(target), **extra), ctx).drug
    assert (drug.classes, drug.known) == (classes, bool(classes))


def test_order_absolute_references_reduced() -> None:
    res = order(subject=ref(BASE + "Patient/p1"), requester=ref(BASE + "Practitioner/7/_history/3"))
    event = to_order(res, CTX)
    assert (event.ref, event.kind) == ("MedicationRequest/o1", EventKind.ORDER)
    assert (event.patient, event.prescriber) == ("Patient/p1", "Practitioner/7")


# ---- MedicationDispense --------------------------------------------------------------------

NO_DAYS = {"daysSupply": None, "quantity": {"value": 56}}
PREPARED = {"whenHandedOver": None, "whenPrepared": "2025-02-28T18:00:00-08:00"}
QD = "quantity/daily-dose"
FILLS = {
    "handed-over-first": ({"whenPrepared": "2025-02-28"}, date(2025, 3, 1), 30, "daysSupply"),
    "prepared": (PREPARED, date(2025, 2, 28), 30, "daysSupply"),
    # No daysSupply: 56 tabs ÷ 2/day = 28 days; without a dose it is not derivable.
    "quantity-bid": (NO_DAYS | {"dosageInstruction": per_day(2)}, date(2025, 3, 1), 28, QD),
    "no-supply": (NO_DAYS, date(2025, 3, 1), None, "none"),
}


@pytest.mark.parametrize(("fields", "start", "supply", "basis"), **by_id(FILLS))
def test_dispense_fill(fields: dict, start: date, supply: int | None, basis: str) -> None:
    event = to_dispense(dispense(**fields), CTX)
    assert (event.start, event.days_supply, event.supply_basis) == (start, supply, basis)


@pytest.mark.parametrize(
    ("fields", "error"),  # only `completed` means supply was handed over
    [({"status": s}, NotApplicable) for s in ("in-progress", "cancelled", "stopped", "declined")]
    + [({"whenHandedOver": None}, MappingError), ({"subject": None}, MappingError)],
)
def test_dispense_rejected(fields: dict, error: type[MappingError]) -> None:
    with pytest.raises(error) as info:
        to_dispense(dispense(**fields), CTX)
    assert type(info.value) is error


def test_dispense_links() -> None:
    performers = [{"function": {"text": "packager"}}, {"actor": ref("Organization/pharm1")}]
    orders = [ref(BASE + "MedicationRequest/o1")]
    event = to_dispense(dispense(authorizingPrescription=orders, performer=performers), CTX)
    assert (event.kind, event.order_ref) == (EventKind.DISPENSE, "MedicationRequest/o1")
    assert event.pharmacy == "Organization/pharm1"


# ---- MedicationStatement -------------------------------------------------------------------

PERIOD = {"start": "2025-01-10", "end": "2025-02-09"}
STATEMENT_DATES = {
    "effectiveDateTime": ({"effectiveDateTime": "2025-01-10"}, date(2025, 1, 10), None),
    "effectivePeriod": ({"effectivePeriod": PERIOD}, date(2025, 1, 10), date(2025, 2, 9)),
    "dateAsserted": ({"dateAsserted": "2025-03-03T09:00:00+02:00"}, date(2025, 3, 3), None),
}


@pytest.mark.parametrize(("fields", "start", "end"), **by_id(STATEMENT_DATES))
def test_statement_dates(fields: dict, start: date, end: date | None) -> None:
    event = to_statement(statement(**fields), CTX)
    assert (event.start, event.end, event.kind) == (start, end, EventKind.STATEMENT)
    assert event.days_supply is None  # reported use is not supply


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"status": "not-taken", "effectiveDateTime": "2025-01-10"}, NotApplicable),
        ({"status": "entered-in-error", "effectiveDateTime": "2025-01-10"}, NotApplicable),
        ({}, MappingError),  # no date at all
    ],
)
def test_statement_rejected(fields: dict, error: type[MappingError]) -> None:
    with pytest.raises(error) as info:
        to_statement(statement(**fields), CTX)
    assert type(info.value) is error


# ---- Observation ---------------------------------------------------------------------------

DETECTED = {"coding": [{"system": SCT, "code": "260373001", "display": "Detected"}]}
POS = [{"coding": [{"system": V3, "code": "POS"}]}]
VALUES = {
    "quantity": ({"valueQuantity": {"value": 12}}, {"value_number": 12.0}),
    "integer-zero": ({"valueInteger": 0}, {"value_number": 0.0}),  # a score of 0 is a result
    "concept-code": (
        {"valueCodeableConcept": DETECTED},
        {"value_codes": {f"{SCT}|260373001"}, "value_text": "Detected"},
    ),
    "concept-text": ({"valueCodeableConcept": {"text": "POS"}}, {"value_text": "POS"}),
    "string": ({"valueString": "Positive"}, {"value_text": "Positive", "value_number": None}),
    "interpretation": ({"interpretation": POS}, {"interpretation": {f"{V3}|POS"}}),
    "period-start": (
        {"effectiveDateTime": None, "effectivePeriod": {"start": "2025-01-01T22:00:00-06:00"}},
        {"effective": date(2025, 1, 1)},
    ),
    "issued": (
        {"effectiveDateTime": None, "issued": "2025-01-03T10:00:00Z"},
        {"effective": date(2025, 1, 3)},
    ),
}


@pytest.mark.parametrize(("fields", "expected"), **by_id(VALUES))
def test_observation_values(fields: dict, expected: dict) -> None:
    record = to_observation(obs(**fields))
    assert record.codes == {f"{LOINC}|59673-4"}
    assert {name: getattr(record, name) for name in expected} == expected


OBS_REJECTED = {
    "cancelled": ({"status": "cancelled"}, NotApplicable, "status"),
    "entered-in-error": ({"status": "entered-in-error"}, NotApplicable, "status"),
    "no-coding": (
        {"code": {"text": "urine drug screen"}},
        MappingError,
        "code",
    ),  # rules match codes
    "no-date": ({"effectiveDateTime": None}, MappingError, "effective[x]"),
}


@pytest.mark.parametrize(("fields", "error", "path"), **by_id(OBS_REJECTED))
def test_observation_rejected(fields: dict, error: type[MappingError], path: str) -> None:
    with pytest.raises(error) as info:
        to_observation(obs(**fields))
    assert (type(info.value), info.value.path) == (error, path)


# ---- Prescriber roles (NUCC) ---------------------------------------------------------------

ROLES = {
    "psychiatry": (["2084P0800X"], PrescriberRole.PSYCHIATRIC),
    "psych-np": (["363LP0808X"], PrescriberRole.PSYCHIATRIC),
    "family": (["207Q00000X"], PrescriberRole.PRIMARY_CARE),
    "im-addiction": (["207RA0401X"], PrescriberRole.ADDICTION),
    # Precedence addiction > psychiatric > primary-care, whatever the order listed.
    "fm+addiction": (["207Q00000X", "207QA0401X"], PrescriberRole.ADDICTION),
    "psych+addiction": (["2084P0802X", "2084P0800X"], PrescriberRole.ADDICTION),
    "im+child-psych": (["207R00000X", "2084P0804X"], PrescriberRole.PSYCHIATRIC),
    "pharmacist": (["183500000X"], PrescriberRole.OTHER),  # not in the table
    "none": ([], PrescriberRole.OTHER),
}


@pytest.mark.parametrize(("codes", "role"), **by_id(ROLES))
def test_prescriber_role(codes: list[str], role: PrescriberRole) -> None:
    specialty = [{"coding": [{"system": NUCC, "code": c}]} for c in codes]
    res = {"resourceType": "PractitionerRole", "practitioner": ref("Practitioner/7")}
    prescriber = to_prescriber({**res, "specialty": specialty}, load_role_table())
    assert (prescriber.ref, prescriber.role) == ("Practitioner/7", role)


def test_prescriber_without_practitioner() -> None:
    with pytest.raises(MappingError, match="practitioner"):
        to_prescriber({"resourceType": "PractitionerRole"}, load_role_table())


# ---- patient_records: every skip has a reason; only malformed ones are dead letters -------


def test_patient_records_skips() -> None:
    resources = [
        order(id="late", authoredOn="2025-02-01"),
        order(id="early", authoredOn="2025-01-01"),
        order(id="cx", status="cancelled"),  # not applicable
        order(id="nomed", medicationCodeableConcept=None),  # malformed
        dispense(id="ibu", medicationCodeableConcept={"text": "Ibuprofen 200 MG"}),  # unknown
        obs(id="o1"),
        obs(id="nocode", code={"text": "UDS"}),  # malformed
        {"resourceType": "Patient", "id": "p1"},  # context, ignored
    ]
    records, skips = to_patient_records("Patient/p1", resources, CTX)
    events = ["MedicationRequest/early", "MedicationRequest/late", "MedicationDispense/ibu"]
    assert [e.ref for e in records.events] == events
    # The unclassified ibuprofen stays an event (listed as unmapped in the report), not a skip.
    assert not records.events[2].drug.known
    assert [o.ref for o in records.observations] == ["Observation/o1"]
    assert {(s.ref, s.reason, s.dead_letter) for s in skips} == {
        ("MedicationRequest/cx", "status: cancelled", False),
        ("MedicationRequest/nomed", "medication[x]: missing", True),
        ("Observation/nocode", "code: no coded Observation.code", True),
    }
