"""The stored form of mapped records (mappers/compact.py): decode(encode(r)) == r, field by
field, for hand-built records with every optional value and for every constructed example
patient as the mappers make them; prescribers attached only for the patient's own events."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from fhirbridge.examples import DATA_DIR
from fhirbridge.mappers import MappingContext, load_terminology
from fhirbridge.mappers.compact import Decoder, encode
from fhirbridge.mappers.patient_records import Skip, to_patient_records
from fhirbridge.records import (
    ConditionRecord,
    Drug,
    EventKind,
    InpatientStay,
    MedicationEvent,
    ObservationRecord,
    PatientRecords,
    Prescriber,
    PrescriberRole,
)
from fhirbridge.rule_needs import profile_from_text, profile_text, rule_profile

BUP = Drug(
    ingredients=("buprenorphine", "naloxone"),
    classes=frozenset({"buprenorphine", "opioid-antagonist"}),
    groups=frozenset({"moud"}),
    code="http://www.nlm.nih.gov/research/umls/rxnorm|352364",
    display="Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film",
)
UNKNOWN = Drug(ingredients=(), classes=frozenset(), groups=frozenset(), code=None, display="")


def _records() -> PatientRecords:
    order = MedicationEvent(
        ref="MedicationRequest/o1",
        kind=EventKind.ORDER,
        patient="Patient/p1",
        drug=BUP,
        status="active",
        start=date(2026, 1, 2),
        days_supply=28,
        supply_basis="expectedSupplyDuration",
        end=date(2026, 12, 31),
        prescriber="Practitioner/addiction",
        quantity=56.0,
        daily_dose=2.0,
        refills=11,
    )
    dispense = MedicationEvent(
        ref="MedicationDispense/d1",
        kind=EventKind.DISPENSE,
        patient="Patient/p1",
        drug=BUP,
        status="completed",
        start=date(2026, 1, 3),
        days_supply=7,
        supply_basis="pod-default:buprenorphine-oral",
        imputed=True,
        pharmacy="Organization/pharmacy",
        order_ref="MedicationRequest/o1",
    )
    statement = MedicationEvent(
        ref="MedicationStatement/s1",
        kind=EventKind.STATEMENT,
        patient="Patient/other-spelling",  # kept as the source wrote it
        drug=UNKNOWN,
        status="active",
        start=date(2025, 5, 1),
        days_supply=None,
        supply_basis="none",
    )
    screen = ObservationRecord(
        ref="Observation/u1",
        patient="Patient/p1",
        codes=frozenset({"http://loinc.org|19415-9", "local|bup"}),
        effective=date(2026, 2, 1),
        status="final",
        value_number=5.5,
        value_unit="ng/mL",
        value_codes=frozenset({"http://snomed.info/sct|260415000"}),
        value_text="Not detected",
        interpretation=frozenset({"NEG"}),
    )
    score = ObservationRecord(
        ref="Observation/q1",
        patient="Patient/p1",
        codes=frozenset({"http://loinc.org|44261-6"}),
        effective=date(2026, 2, 2),
        status="final",
        value_number=17,
    )
    oud = ConditionRecord(
        ref="Condition/c1",
        patient="Patient/p1",
        codes=frozenset({"http://hl7.org/fhir/sid/icd-10-cm|F11.20"}),
        clinical_status="active",
        verification_status=None,
        onset=date(2024, 3, 1),
        abated=None,
        text="Opioid dependence",
    )
    stay = InpatientStay(ref="Encounter/e1", patient="Patient/p1", start=date(2026, 3, 1), end=None)
    return PatientRecords(
        patient="Patient/p1",
        events=(order, dispense, statement),
        observations=(screen, score),
        conditions=(oud,),
        deceased=date.min,  # deceasedBoolean true
        stays=(stay,),
    )


def test_every_field_survives_the_round_trip() -> None:
    records = _records()
    skips = [Skip(ref="Encounter/e2", reason="class: not inpatient (AMB)", dead_letter=False)]
    decoded, decoded_skips = Decoder().decode("Patient/p1", encode(records, skips))
    assert decoded == records
    assert decoded_skips == skips
    for mine, theirs in zip(decoded.events, records.events, strict=True):
        assert [getattr(mine, f) for f in mine.__slots__] == [
            getattr(theirs, f) for f in theirs.__slots__
        ]
    assert decoded.events[0].kind is EventKind.ORDER  # the enum member, not its string
    assert decoded.events[0].drug is decoded.events[1].drug  # one Drug per distinct drug


def test_prescribers_are_attached_for_the_patients_own_events_only() -> None:
    known = {
        "Practitioner/addiction": Prescriber(
            ref="Practitioner/addiction", role=PrescriberRole.ADDICTION
        ),
        "Practitioner/somebody-else": Prescriber(
            ref="Practitioner/somebody-else", role=PrescriberRole.PSYCHIATRIC
        ),
    }
    decoded, _ = Decoder().decode("Patient/p1", encode(_records(), []), known)
    assert decoded.prescribers == {"Practitioner/addiction": known["Practitioner/addiction"]}


def test_another_format_is_refused() -> None:
    body = orjson.loads(encode(_records(), []))
    body["f"] = 0
    with pytest.raises(ValueError, match="format 0"):
        Decoder().decode("Patient/p1", orjson.dumps(body))


def _example_patients() -> dict[str, list[dict[str, object]]]:
    by_patient: dict[str, list[dict[str, object]]] = {}
    for path in sorted(DATA_DIR.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            if resource["resourceType"] == "Patient":
                by_patient.setdefault(f"Patient/{resource['id']}", []).append(resource)
            elif isinstance(resource.get("subject"), dict):
                by_patient.setdefault(resource["subject"]["reference"], []).append(resource)
    return by_patient


def test_every_example_patient_round_trips_as_the_mappers_made_it() -> None:
    ctx = MappingContext(terminology=load_terminology(), medications={})
    decoder = Decoder()
    patients = _example_patients()
    assert len(patients) >= 28
    for patient, resources in patients.items():
        records, skips = to_patient_records(patient, resources, ctx)
        assert decoder.decode(patient, encode(records, skips)) == (records, skips), patient


def test_the_rule_profile_kept_with_the_records_is_the_one_analysis_would_work_out() -> None:
    # stored_mapping.py keeps profile_text(rule_profile(records)) as the extra.
    ctx = MappingContext(terminology=load_terminology(), medications={})
    decoder = Decoder()
    for patient, resources in _example_patients().items():
        records, skips = to_patient_records(patient, resources, ctx)
        body = encode(records, skips, profile_text(rule_profile(records)))
        decoded, decoded_skips, kept = decoder.decode_parts(patient, body)
        assert (decoded, decoded_skips) == (records, skips)
        assert profile_from_text(kept) == rule_profile(decoded), patient
    assert decoder.decode_parts("Patient/p1", encode(_records(), []))[2] is None
