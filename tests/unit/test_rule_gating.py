"""Rule prerequisites (analysis.RULE_NEEDS): skipping a rule whose prerequisite fails never
changes a result, and the prerequisites do fail where a rule cannot fire, so the work is saved.

The reference below runs every rule ungated, as analyze_patient did before the prerequisites.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge import analysis
from fhirbridge.adherence import (
    MoudGapParams,
    RefillParams,
    UdsNegativeParams,
    UdsPositiveParams,
    assess_adherence,
    resolve_supply,
)
from fhirbridge.adherence.codes import load_observation_codes
from fhirbridge.adherence.params import ANALYTES
from fhirbridge.analysis import RULES, AnalysisParams, analyze_patient
from fhirbridge.bootstrap import build_services
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.findings import Finding, sort_key
from fhirbridge.mappers import MAPPERS, MappingContext, load_terminology, prescribers_from
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.reconciliation import (
    DiscrepancyParams,
    DuplicateParams,
    MaoiParams,
    MethadoneQtParams,
    MultiplePrescribersParams,
    NaloxoneParams,
    NaltrexoneParams,
    OudUntreatedParams,
    SedativeParams,
    SerotonergicOpioidParams,
)
from fhirbridge.records import (
    ConditionRecord,
    Drug,
    EventKind,
    InpatientStay,
    MedicationEvent,
    PatientRecords,
    Prescriber,
    PrescriberRole,
)
from fhirbridge.rule_needs import RULE_NEEDS, rule_profile
from fhirbridge.settings import Settings
from tests.example_expectations import expected_findings
from tests.unit.adherence_builders import (
    ALPRAZOLAM,
    BUP_NAL,
    DETECTED,
    NOT_DETECTED,
    OXYCODONE,
    SERTRALINE,
    observation,
    records,
)
from tests.unit.factories import dispense, drug, order

AS_OF = date(2026, 6, 30)
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
OXY_APAP = "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
TRAMADOL = "Tramadol Hydrochloride 50 MG Oral Tablet"
FENTANYL = "72 HR Fentanyl 0.025 MG/HR Transdermal System"
METHADONE = "Methadone Hydrochloride 10 MG Oral Tablet"
METHADONE_MOUD = "Methadone Hydrochloride 10 MG/ML Oral Solution"  # see PRODUCTS
BUP = "Buprenorphine 8 MG Sublingual Tablet"
BUP_PATCH = "7 DAY Buprenorphine 0.005 MG/HR Transdermal System"  # pain: opioid-analgesic
NALTREXONE = "naltrexone 380 MG Extended-Release Injectable Suspension"
NALOXONE = "Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray"
CLONAZEPAM = "Clonazepam 1 MG Oral Tablet"
ZOLPIDEM = "Zolpidem Tartrate 10 MG Oral Tablet"
GABAPENTIN = "Gabapentin 300 MG Oral Capsule"
PREGABALIN = "Pregabalin 75 MG Oral Capsule"
FLUOXETINE = "Fluoxetine 20 MG Oral Capsule"
DULOXETINE = "Duloxetine 60 MG Delayed Release Oral Capsule"
PHENELZINE = "Phenelzine 15 MG Oral Tablet"
LINEZOLID = "Linezolid 600 MG Oral Tablet"
MIRTAZAPINE = "Mirtazapine 15 MG Oral Tablet"
TRAZODONE = "Trazodone Hydrochloride 50 MG Oral Tablet"
ARIPIPRAZOLE = "Aripiprazole 10 MG Oral Tablet"
QUETIAPINE = "Quetiapine 100 MG Oral Tablet"
LITHIUM = "Lithium Carbonate 300 MG Oral Capsule"
VITAMIN_D = "Cholecalciferol 1000 UNIT Oral Tablet"  # unclassified

# Widened and narrowed parameters: every list a prerequisite reads, changed.
WIDE = AnalysisParams(
    refill_overdue=RefillParams(grace_days=0, grace_days_by_group={"moud": 0}),
    moud_gap=MoudGapParams(gap_days=2, lookback_days=400),
    uds_unexpected_negative=UdsNegativeParams(lookback_days=400, analytes=ANALYTES),
    uds_unexpected_positive=UdsPositiveParams(lookback_days=400, analytes=ANALYTES),
    opioid_benzodiazepine=SedativeParams(lookback_days=400),
    opioid_gabapentinoid=SedativeParams(lookback_days=400),
    opioid_sedative_hypnotic=SedativeParams(lookback_days=400),
    naltrexone_opioid=NaltrexoneParams(lookback_days=400, washout_after_moud_days=30),
    serotonergic_maoi=MaoiParams(
        lookback_days=400,
        partner_classes=("ssri", "snri", "antidepressant-other"),
        partner_ingredients=("lithium",),
    ),
    serotonergic_opioid=SerotonergicOpioidParams(
        lookback_days=400,
        opioids=("fentanyl", "methadone", "tramadol", "oxycodone", "buprenorphine"),
        partner_classes=("ssri", "snri", "maoi", "antipsychotic"),
        partner_ingredients=("trazodone", "lithium"),
    ),
    naloxone_missing=NaloxoneParams(lookback_days=400, rescue_lookback_days=30),
    duplicate_therapy=DuplicateParams(
        lookback_days=400,
        min_overlap_days=1,
        classes=("antipsychotic", "ssri", "opioid-analgesic", "mood-stabilizer", "maoi"),
    ),
    multiple_prescribers=MultiplePrescribersParams(
        window_days=400,
        min_prescribers=2,
        min_pharmacies=2,
        classes=("opioid-analgesic", "ssri"),
        ingredients=("gabapentin", "pregabalin"),
    ),
    medication_list_discrepancy=DiscrepancyParams(lookback_days=60),
    oud_untreated=OudUntreatedParams(include_remission=True, icd10cm_prefixes=("F11", "F19")),
    methadone_qt=MethadoneQtParams(moderate_ms=400, loinc_codes=("8636-3",)),
)
NARROW = AnalysisParams(
    multiple_prescribers=MultiplePrescribersParams(
        min_prescribers=3, min_pharmacies=2, require_both=True
    ),
    uds_unexpected_negative=UdsNegativeParams(analytes=("methadone",)),
    uds_unexpected_positive=UdsPositiveParams(analytes=("fentanyl",)),
    serotonergic_opioid=SerotonergicOpioidParams(opioids=("tramadol",), partner_ingredients=()),
    serotonergic_maoi=MaoiParams(partner_classes=("snri",), partner_ingredients=()),
    duplicate_therapy=DuplicateParams(classes=("antipsychotic",)),
    methadone_qt=MethadoneQtParams(loinc_codes=("76635-2",)),
)
PARAMS = (AnalysisParams(), WIDE, NARROW)


def ungated(patient: PatientRecords, as_of: date, params: AnalysisParams) -> tuple[Finding, ...]:
    """Findings with every rule run, whatever its prerequisite (analyze_patient before it)."""
    patient = resolve_supply(patient)
    found = list(assess_adherence(patient, as_of=as_of, params=params.adherence).findings)
    for rule in RULES.values():
        if rule is not None:
            found.extend(rule(patient, as_of, params))
    if patient.deceased is not None and patient.deceased <= as_of:
        return ()
    return tuple(sorted(found, key=sort_key))


def skipped_but_firing(patient: PatientRecords, as_of: date, params: AnalysisParams) -> list[str]:
    """Rules whose prerequisite fails although the rule, run anyway, returns a finding."""
    resolved = resolve_supply(patient)
    profile = rule_profile(resolved)
    return [
        name
        for name, need in RULE_NEEDS.items()
        if not need(profile, params) and (rule := RULES[name]) and rule(resolved, as_of, params)
    ]


def test_every_rule_with_a_function_has_a_prerequisite() -> None:
    assert set(RULE_NEEDS) == {name for name, rule in RULES.items() if rule is not None}
    assert RULES["pdc-below-threshold"] is None  # computed with adherence, not gated


# ---- the constructed example patients ---------------------------------------------------


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> list[PatientRecords]:
    """The example patients, synced and mapped as a run maps them (no server, no CLI)."""
    root: Path = tmp_path_factory.mktemp("gating")
    services = build_services(Settings(), database_url=f"sqlite:///{root / 'db'}")
    try:
        services.sync(None, REFERENCE_DATE, None)
        store = services.store
        medications = {
            f"Medication/{m.get('id')}": m for m in store.resources_of_type("Medication")
        }
        ctx = MappingContext(terminology=services.terminology, medications=medications)
        prescribers = prescribers_from(
            store.resources_of_type("PractitionerRole"),
            store.resources_of_type("Practitioner"),
            services.roles,
        )
        return [
            to_patient_records(patient, resources, ctx, prescribers)[0]
            for patient, resources in store.resources_by_patient(MAPPERS)
        ]
    finally:
        services.close()


@pytest.mark.parametrize("params", PARAMS, ids=["default", "wide", "narrow"])
@pytest.mark.parametrize("shift", [-120, -30, 0, 45], ids=lambda d: f"as_of{d:+d}")
def test_examples_gated_equal_ungated(
    examples: list[PatientRecords], params: AnalysisParams, shift: int
) -> None:
    as_of = REFERENCE_DATE + timedelta(days=shift)
    assert len(examples) >= 20
    for patient in examples:
        assert skipped_but_firing(patient, as_of, params) == [], patient.patient
        gated = analyze_patient(patient, as_of=as_of, params=params).findings
        assert gated == ungated(patient, as_of, params), patient.patient


def test_examples_each_rule_still_fires_on_its_scenarios(
    examples: list[PatientRecords],
) -> None:
    fired = {
        (patient.patient, f.rule)
        for patient in examples
        for f in analyze_patient(patient, as_of=REFERENCE_DATE).findings
    }
    assert expected_findings() <= fired
    assert {rule for _, rule in fired} >= set(RULE_NEEDS)  # every gated rule fires somewhere


def test_examples_gates_skip_work(examples: list[PatientRecords]) -> None:
    # Most example patients are built for one scenario: most rules are skipped for them.
    params = AnalysisParams()
    profiles = [rule_profile(resolve_supply(p)) for p in examples]
    skipped = sum(not need(pr, params) for pr in profiles for need in RULE_NEEDS.values())
    assert skipped > len(profiles) * len(RULE_NEEDS) // 2


# ---- prerequisites follow the rules' parameters ---------------------------------------------


def _day(n: int) -> date:
    return AS_OF + timedelta(days=n)


def _condition(code: str) -> ConditionRecord:
    return ConditionRecord(
        ref="Condition/c1",
        patient="Patient/p1",
        codes=frozenset({code}),
        clinical_status="active",
        verification_status="confirmed",
        onset=_day(-400),
    )


# (rule, AnalysisParams attribute, parameters, patient, whether the default parameters'
# prerequisite holds): each patient makes the rule fire under these parameters.
FIRING = [
    (
        "serotonergic-opioid",
        "serotonergic_opioid",
        SerotonergicOpioidParams(
            opioids=("oxycodone",), partner_classes=("antipsychotic",), partner_ingredients=()
        ),
        records(
            dispense("d1", OXYCODONE, _day(-20), 30, "MedicationRequest/o1"),
            dispense("d2", ARIPIPRAZOLE, _day(-20), 30, "MedicationRequest/o2"),
        ),
        False,
    ),
    (
        "serotonergic-maoi",
        "serotonergic_maoi",
        MaoiParams(partner_classes=(), partner_ingredients=("lithium",)),
        records(
            dispense("d1", PHENELZINE, _day(-20), 30, "MedicationRequest/o1"),
            dispense("d2", LITHIUM, _day(-20), 30, "MedicationRequest/o2"),
        ),
        False,
    ),
    (
        "duplicate-therapy",
        "duplicate_therapy",
        DuplicateParams(classes=("opioid-analgesic",)),
        records(
            dispense("d1", OXYCODONE, _day(-80), 90, "MedicationRequest/o1"),
            dispense("d2", TRAMADOL, _day(-80), 90, "MedicationRequest/o2"),
        ),
        False,
    ),
    (
        "multiple-prescribers",
        "multiple_prescribers",
        MultiplePrescribersParams(classes=("ssri",), ingredients=(), min_prescribers=2),
        records(
            order("o1", SERTRALINE, _day(-40), 30, "Practitioner/a"),
            order("o2", SERTRALINE, _day(-10), 30, "Practitioner/b"),
        ),
        False,
    ),
    (
        "uds-unexpected-positive",
        "uds_unexpected_positive",
        UdsPositiveParams(analytes=("buprenorphine",)),
        records(observations=(observation("u1", "3414-0", _day(-5), concept=DETECTED),)),
        False,
    ),
    (
        "uds-unexpected-negative",
        "uds_unexpected_negative",
        UdsNegativeParams(analytes=("fentanyl",)),
        records(
            dispense("d1", FENTANYL, _day(-10), 30, "MedicationRequest/o1"),
            observations=(observation("u1", "59673-4", _day(-5), concept=NOT_DETECTED),),
        ),
        False,
    ),
    (
        "methadone-qt",
        "methadone_qt",
        MethadoneQtParams(loinc_codes=("8601-7",)),
        records(
            dispense("d1", METHADONE, _day(-20), 30, "MedicationRequest/o1"),
            observations=(observation("q1", "8601-7", _day(-3), number=520),),
        ),
        False,
    ),
    (
        "oud-untreated",
        "oud_untreated",
        OudUntreatedParams(icd10cm_prefixes=("F19",)),
        replace(records(), conditions=(_condition(f"{ICD10CM}|F19.20"),)),
        False,
    ),
    (
        "oud-untreated",
        "oud_untreated",
        OudUntreatedParams(include_remission=True),
        replace(records(), conditions=(_condition(f"{SNOMED}|191821007"),)),
        False,  # opioid dependence in remission: only with include_remission
    ),
    (
        "medication-list-discrepancy",
        "medication_list_discrepancy",
        DiscrepancyParams(),
        records(
            order("o1", SERTRALINE, _day(-30), 30, "Practitioner/a", status="stopped"),
            order("o2", SERTRALINE, _day(-10), 30, "Practitioner/b"),
        ),
        True,  # stopped by one prescriber, still active from another
    ),
]


@pytest.mark.parametrize(
    ("rule", "attribute", "rule_params", "patient", "by_default"),
    FIRING,
    ids=[f"{case[0]}-{n}" for n, case in enumerate(FIRING)],
)
def test_prerequisite_follows_the_rule_parameters(
    rule: str,
    attribute: str,
    rule_params: Any,
    patient: PatientRecords,
    by_default: bool,
) -> None:
    params = replace(AnalysisParams(), **{attribute: rule_params})
    profile = rule_profile(resolve_supply(patient))
    run = RULES[rule]
    assert run is not None
    assert run(resolve_supply(patient), AS_OF, params)  # the rule fires under these parameters
    assert RULE_NEEDS[rule](profile, params)
    assert rule in {f.rule for f in analyze_patient(patient, as_of=AS_OF, params=params).findings}
    assert RULE_NEEDS[rule](profile, AnalysisParams()) is by_default


# ---- random patients ----------------------------------------------------------------------

PRODUCTS: dict[str, Drug] = {
    **{
        text: drug(text)
        for text in (
            OXYCODONE,
            OXY_APAP,
            TRAMADOL,
            FENTANYL,
            METHADONE,
            BUP_NAL,
            BUP,
            BUP_PATCH,
            NALTREXONE,
            NALOXONE,
            ALPRAZOLAM,
            CLONAZEPAM,
            ZOLPIDEM,
            GABAPENTIN,
            PREGABALIN,
            SERTRALINE,
            FLUOXETINE,
            DULOXETINE,
            PHENELZINE,
            LINEZOLID,
            MIRTAZAPINE,
            TRAZODONE,
            ARIPIPRAZOLE,
            QUETIAPINE,
            LITHIUM,
            VITAMIN_D,
        )
    },
    # Methadone in the MOUD group, as with [analysis] moud_includes_methadone = true.
    METHADONE_MOUD: load_terminology(moud_includes_methadone=True).classify(
        {"text": METHADONE_MOUD}
    ),
}
# Drugs that meet in the rules, drawn together so that the rules fire often.
THEMES = (
    (OXYCODONE, ALPRAZOLAM, NALOXONE),
    (METHADONE, GABAPENTIN, ZOLPIDEM, CLONAZEPAM),
    (NALTREXONE, BUP_NAL, TRAMADOL, OXY_APAP),
    (PHENELZINE, SERTRALINE, FLUOXETINE, LINEZOLID),
    (FENTANYL, TRAZODONE, DULOXETINE, METHADONE_MOUD),
    (ARIPIPRAZOLE, QUETIAPINE, SERTRALINE, FLUOXETINE),
    (ALPRAZOLAM, CLONAZEPAM, GABAPENTIN, PREGABALIN),
    (BUP_NAL, BUP, METHADONE_MOUD, BUP_PATCH),
    (LITHIUM, ARIPIPRAZOLE, MIRTAZAPINE, VITAMIN_D),
)
PRESCRIBERS = ("Practitioner/a", "Practitioner/b", "Practitioner/c", "Patient/p1")
PHARMACIES = ("Organization/ph1", "Organization/ph2", "Organization/ph3")
RESOURCE = {
    EventKind.ORDER: "MedicationRequest",
    EventKind.DISPENSE: "MedicationDispense",
    EventKind.STATEMENT: "MedicationStatement",
}
STATUSES = ("active", "active", "completed", "stopped", "intended", "on-hold")
CODES = load_observation_codes()
UDS_CODES = sorted(code.split("|")[1] for code in CODES.uds)
SCORES = {
    CODES.phq9_total.split("|")[1]: st.integers(0, 27),
    CODES.phq9_item9.split("|")[1]: st.integers(0, 3),
    "8636-3": st.integers(380, 560),  # QTc, ms
    "76635-2": st.sampled_from([0.42, 0.47, 0.52]),  # QTc in seconds
}
CONDITIONS = (
    f"{ICD10CM}|F11.20",
    f"{ICD10CM}|F11.21",  # remission
    f"{ICD10CM}|F19.20",
    f"{SNOMED}|5602001",
    f"{SNOMED}|191821007",  # remission
    f"{ICD10CM}|E11.9",
)

# A course: one order and its fills, so that supplies meet as they do in real records.
course_st = st.tuples(
    st.integers(0, 3),  # which of the patient's products
    st.integers(-240, 5),  # the order, days from AS_OF
    st.integers(0, 6),  # dispenses (0: the order alone)
    st.sampled_from([None, 7, 14, 30, 30, 90]),  # days supply
    st.integers(-5, 20),  # days between fills beyond the supply: early or late refills
    st.sampled_from(STATUSES),  # the order's status
    st.none() | st.sampled_from(PRESCRIBERS),
    st.none() | st.sampled_from(PHARMACIES),
    st.none() | st.integers(0, 3),  # refills authorised
)
# A loose event: a statement, or an order or dispense on its own.
event_st = st.tuples(
    st.integers(0, 3),
    st.sampled_from(list(EventKind)),
    st.integers(-420, 10),  # start, days from AS_OF
    st.sampled_from([None, 7, 30]),
    st.sampled_from(STATUSES),
    st.none() | st.sampled_from(PRESCRIBERS),
    st.none() | st.integers(0, 60),  # statement end, days after start
)
observation_st = st.one_of(
    st.tuples(
        st.sampled_from(UDS_CODES),
        st.integers(-420, 5),
        st.sampled_from(["detected", "not detected", "positive", "negative", "number"]),
    ),
    st.sampled_from(sorted(SCORES)).flatmap(
        lambda code: st.tuples(st.just(code), st.integers(-420, 5), SCORES[code])
    ),
)
condition_st = st.tuples(
    st.sampled_from(CONDITIONS),
    st.sampled_from([None, "active", "remission", "resolved", "relapse"]),
    st.none() | st.integers(-800, 30),  # onset
    st.none() | st.integers(-300, 60),  # abatement
)


@st.composite
def patients(draw: st.DrawFn) -> PatientRecords:
    products = draw(
        st.sampled_from(THEMES)
        | st.lists(st.sampled_from(sorted(PRODUCTS)), min_size=1, max_size=4)
    )
    events: list[MedicationEvent] = []

    def add(kind: EventKind, pick: int, day: int, days: int | None, **more: Any) -> None:
        event = MedicationEvent(
            ref=f"{RESOURCE[kind]}/e{len(events)}",
            kind=kind,
            patient="Patient/p1",
            drug=PRODUCTS[products[pick % len(products)]],
            start=AS_OF + timedelta(days=day),
            days_supply=days,
            supply_basis="daysSupply" if days else "none",
            status="completed",
            quantity=30.0 if days is None else None,
            daily_dose=draw(st.sampled_from([None, 1.0, 2.0])),
        )
        events.append(replace(event, **more))

    for pick, start, fills, days, gap, status, prescriber, pharmacy, refills in draw(
        st.lists(course_st, min_size=1, max_size=4)
    ):
        add(
            EventKind.ORDER,
            pick,
            start,
            days,
            status=status,
            prescriber=prescriber,
            refills=refills,
        )
        order_ref = events[-1].ref
        for k in range(fills):
            day = start + k * ((days or 30) + gap)
            add(EventKind.DISPENSE, pick, day, days, order_ref=order_ref, pharmacy=pharmacy)
    for pick, kind, start, days, status, prescriber, end in draw(st.lists(event_st, max_size=4)):
        stated = kind is EventKind.STATEMENT
        add(
            kind,
            pick,
            start,
            None if stated else days,
            status=status,
            prescriber=prescriber,
            end=AS_OF + timedelta(days=start + end) if stated and end is not None else None,
        )
    observations = []
    for n, (code, day, value) in enumerate(draw(st.lists(observation_st, max_size=6))):
        effective = AS_OF + timedelta(days=day)
        if value in ("detected", "not detected"):
            concept = DETECTED if value == "detected" else NOT_DETECTED
            observations.append(observation(f"o{n}", code, effective, concept=concept))
        elif value in ("positive", "negative"):
            observations.append(observation(f"o{n}", code, effective, text=value))
        else:
            number = 400.0 if value == "number" else float(value)
            observations.append(observation(f"o{n}", code, effective, number=number))
    conditions = tuple(
        ConditionRecord(
            ref=f"Condition/c{n}",
            patient="Patient/p1",
            codes=frozenset({code}),
            clinical_status=clinical,
            verification_status="confirmed",
            onset=AS_OF + timedelta(days=onset) if onset is not None else None,
            abated=AS_OF + timedelta(days=abated) if abated is not None else None,
            text=code,
        )
        for n, (code, clinical, onset, abated) in enumerate(
            draw(st.lists(condition_st, max_size=3))
        )
    )
    stays = tuple(
        InpatientStay(
            ref=f"Encounter/s{n}",
            patient="Patient/p1",
            start=AS_OF + timedelta(days=start),
            end=AS_OF + timedelta(days=start + length),
        )
        for n, (start, length) in enumerate(
            draw(st.lists(st.tuples(st.integers(-300, -5), st.integers(0, 10)), max_size=2))
        )
    )
    deceased = draw(st.sampled_from([None, None, None, AS_OF - timedelta(days=10), AS_OF]))
    return replace(
        records(*events, observations=tuple(sorted(observations, key=lambda o: o.ref))),
        conditions=conditions,
        stays=stays,
        deceased=deceased,
        prescribers={
            "Practitioner/a": Prescriber(ref="Practitioner/a", role=PrescriberRole.ADDICTION),
            "Practitioner/b": Prescriber(ref="Practitioner/b", role=PrescriberRole.PSYCHIATRIC),
        },
    )


@settings(max_examples=300, deadline=None)
@given(patients(), st.sampled_from(PARAMS), st.integers(-60, 60))
def test_random_patients_gated_equal_ungated(
    patient: PatientRecords, params: AnalysisParams, shift: int
) -> None:
    as_of = AS_OF + timedelta(days=shift)
    assert skipped_but_firing(patient, as_of, params) == []
    assert analyze_patient(patient, as_of=as_of, params=params).findings == ungated(
        patient, as_of, params
    )


# ---- the gates do skip work ----------------------------------------------------------------


def _sertraline_only(order_status: str) -> PatientRecords:
    return records(
        order(
            "o1", SERTRALINE, AS_OF - timedelta(days=100), 30, "Practitioner/a", status=order_status
        ),
        dispense("d1", SERTRALINE, AS_OF - timedelta(days=100), 30, "MedicationRequest/o1"),
        dispense("d2", SERTRALINE, AS_OF - timedelta(days=68), 30, "MedicationRequest/o1"),
    )


def test_sertraline_only_skips_every_rule_but_refill_overdue() -> None:
    params = AnalysisParams()
    profile = rule_profile(_sertraline_only("active"))
    assert {name for name, need in RULE_NEEDS.items() if need(profile, params)} == {
        "refill-overdue"  # the active sertraline order may be overdue: it must run
    }
    stopped = rule_profile(_sertraline_only("completed"))
    assert not any(need(stopped, params) for need in RULE_NEEDS.values())


def test_analyze_patient_does_not_run_a_skipped_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(patient: PatientRecords, as_of: date, params: AnalysisParams) -> list[Finding]:
        calls.append(patient.patient)
        return []

    monkeypatch.setitem(analysis.RULES, "opioid-benzodiazepine", spy)
    analyze_patient(_sertraline_only("active"), as_of=AS_OF)
    assert calls == []
    both = records(
        order("o1", OXYCODONE, AS_OF - timedelta(days=20), 30, "Practitioner/a"),
        order("o2", ALPRAZOLAM, AS_OF - timedelta(days=20), 30, "Practitioner/b"),
    )
    analyze_patient(both, as_of=AS_OF)
    assert calls == ["Patient/p1"]
    dead = replace(both, deceased=AS_OF - timedelta(days=1))
    assert analyze_patient(dead, as_of=AS_OF).findings == ()
    assert calls == ["Patient/p1"]  # no rule runs for a patient who has died
