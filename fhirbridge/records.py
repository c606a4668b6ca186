"""Domain records: what mappers make of FHIR resources and what analysis reads.

Frozen, slotted, keyword-only value objects. References keep the source's spelling
(`MedicationDispense/123`); dates are calendar dates in the patient's local sense (the date
part of the FHIR dateTime as written, never converted to UTC: a fill at 23:30-05:00 happened
on that day for the patient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from fhirbridge.slotted import direct_init


class EventKind(StrEnum):
    """Where a medication event came from; PDC prefers dispenses over orders (CONTRACT.md)."""

    ORDER = "order"  # MedicationRequest: an authorization, not proof of supply
    DISPENSE = "dispense"  # MedicationDispense: supply handed over
    STATEMENT = "statement"  # MedicationStatement: patient- or clinician-reported use


# The kinds as module constants for the analysis loops: `EventKind.ORDER` is a class attribute
# lookup through the enum's metaclass, 70 ns on Python 3.11 against 5-15 ns for a name, and
# the rules test an event's kind several times per event (12 events per patient, 100,000s of
# patients per run).
ORDER, DISPENSE, STATEMENT = EventKind.ORDER, EventKind.DISPENSE, EventKind.STATEMENT


class PrescriberRole(StrEnum):
    """The prescriber's kind of practice, from PractitionerRole.specialty (NUCC) or mappings."""

    PSYCHIATRIC = "psychiatric"
    ADDICTION = "addiction"
    PRIMARY_CARE = "primary-care"
    OTHER = "other"


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Drug:
    """A medication normalised to ingredients and drug classes."""

    ingredients: tuple[str, ...]  # sorted lower-case ingredient names; () when unknown
    classes: frozenset[str]  # CONTRACT.md drug classes, e.g. {"buprenorphine"}
    groups: frozenset[str]  # adherence groups, e.g. {"moud"}
    code: str | None  # "system|code" of the coding that was recognised, else the first
    display: str  # product text as the source wrote it (not patient data)

    @property
    def known(self) -> bool:
        return bool(self.ingredients)


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MedicationEvent:
    """One order, dispense or statement, with the supply it stands for."""

    ref: str  # "MedicationDispense/123"
    kind: EventKind
    patient: str  # "Patient/9"
    drug: Drug
    status: str  # FHIR status as sent (active, completed, stopped, ...)
    start: date  # dispense: whenHandedOver/whenPrepared; order: authoredOn/validity start
    days_supply: int | None  # None: not derivable (counted as a skip, never guessed)
    supply_basis: str  # how days_supply was found: daysSupply, quantity/daily-dose, ...
    imputed: bool = False  # True when days_supply came from a default, not the resource
    end: date | None = None  # statements and orders with an explicit end (effectivePeriod.end)
    prescriber: str | None = None  # "Practitioner/7" (requester; for dispenses, from the order)
    pharmacy: str | None = None  # dispensing Organization/Location reference
    order_ref: str | None = None  # dispense → authorizingPrescription
    quantity: float | None = None
    daily_dose: float | None = None  # units per day from dosageInstruction, when derivable
    refills: int | None = None  # order: dispenseRequest.numberOfRepeatsAllowed, when sent


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ObservationRecord:
    """A screen, score or measurement with its value read tolerantly."""

    ref: str  # "Observation/5"
    patient: str
    codes: frozenset[str]  # "http://loinc.org|44261-6", ...
    effective: date
    status: str
    value_number: float | None = None  # valueQuantity / valueInteger
    value_unit: str | None = None  # valueQuantity code (UCUM), else its unit text
    value_codes: frozenset[str] = field(default_factory=frozenset)  # valueCodeableConcept codings
    value_text: str | None = None  # valueString, or valueCodeableConcept.text / display
    interpretation: frozenset[str] = field(default_factory=frozenset)  # v3 interpretation codes


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionRecord:
    """A diagnosis (problem-list item or encounter diagnosis), read tolerantly."""

    ref: str  # "Condition/4"
    patient: str
    codes: frozenset[str]  # "http://hl7.org/fhir/sid/icd-10-cm|F11.20", SNOMED, ...
    clinical_status: str | None  # condition-clinical: active, recurrence, relapse, remission, ...
    verification_status: str | None  # condition-ver-status: confirmed, refuted, ...
    onset: date | None  # onset[x] (dateTime or Period.start), else recordedDate
    abated: date | None = None  # abatement[x] (dateTime or Period.end)
    text: str = ""  # code.text or displays (not patient data: the diagnosis name)


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class InpatientStay:
    """An inpatient encounter (Encounter.class IMP, ACUTE or NONAC), censored from PDC periods."""

    ref: str  # "Encounter/12"
    patient: str
    start: date  # period.start: the admission day
    end: date | None  # period.end: the discharge day; None while the stay is in progress


@dataclass(frozen=True, slots=True, kw_only=True)
class VitalStatus:
    """Patient.deceased[x]: whether and when the patient died."""

    patient: str
    deceased: date | None  # deceasedDateTime's date; date.min for deceasedBoolean true


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Prescriber:
    """A practitioner and the role fhirbridge assigns them."""

    ref: str  # "Practitioner/3"
    role: PrescriberRole
    specialties: tuple[str, ...] = ()  # "system|code" of PractitionerRole.specialty


@direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PatientRecords:
    """Everything analysis needs for one patient, as of one run."""

    patient: str
    events: tuple[MedicationEvent, ...] = ()
    observations: tuple[ObservationRecord, ...] = ()
    conditions: tuple[ConditionRecord, ...] = ()  # diagnoses, e.g. opioid use disorder
    deceased: date | None = None  # from Patient.deceased[x]: no findings after this day
    prescribers: dict[str, Prescriber] = field(default_factory=dict)  # by ref; not hashed
    stays: tuple[InpatientStay, ...] = ()  # inpatient encounters, by admission day
    # Events by reference, filled on first use (`by_ref`): several findings of one patient
    # look their events up. Not an argument, so `dataclasses.replace` starts a new one.
    _by_ref: dict[str, MedicationEvent] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    def by_ref(self) -> dict[str, MedicationEvent]:
        """The events by reference (the same dict on every call: read it, do not change it)."""
        index = self._by_ref
        if not index and self.events:
            index.update((e.ref, e) for e in self.events)
        return index

    def dispenses(self) -> tuple[MedicationEvent, ...]:
        return tuple(e for e in self.events if e.kind is EventKind.DISPENSE)

    def orders(self) -> tuple[MedicationEvent, ...]:
        return tuple(e for e in self.events if e.kind is EventKind.ORDER)

    def orders_behind(self, refs: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The prescriptions behind events: a dispense's authorizingPrescription, else itself.

        Findings implicate orders, as the CDC opioid CDS DetectedIssue template does: a refill on
        the same prescription then keeps the finding's key (and its written resources) stable.
        """
        by_ref = self.by_ref()
        found: set[str] = set()
        for ref in refs:
            event = by_ref.get(ref)
            found.add(event.order_ref if event is not None and event.order_ref else ref)
        return tuple(sorted(found))

    def prescribers_of(self, refs: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """Prescribers behind events: an order's requester, or a dispense's order's requester."""
        by_ref = self.by_ref()
        found: set[str] = set()
        for ref in refs:
            event = by_ref.get(ref)
            if event is None:
                continue
            if event.prescriber:
                found.add(event.prescriber)
            elif event.order_ref and (order := by_ref.get(event.order_ref)) and order.prescriber:
                found.add(order.prescriber)
        return tuple(sorted(found))
