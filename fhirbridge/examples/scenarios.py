"""Constructed example data: the 28 patient scenarios and the findings each is designed to produce.

Day offsets are relative to REFERENCE_DATE (2026-06-30 = day 0). Fill arithmetic follows the
PDC method in shared/design/CONTRACT.md: a 28-day fill on day d covers days d .. d+27.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fhirbridge.examples.builders import (
    DETECTED,
    NOT_DETECTED,
    PHQ9_ITEM9,
    PHQ9_TOTAL,
    QTC,
    UDS,
    Chart,
    medication,
    millis,
    score,
)
from fhirbridge.examples.catalog import DRUGS

OUD = ("F11.20", "Opioid dependence, uncomplicated")
MDD = ("F32.9", "Major depressive disorder, single episode, unspecified")
MDD_RECURRENT = ("F33.1", "Major depressive disorder, recurrent, moderate")
GAD = ("F41.1", "Generalized anxiety disorder")
SCHIZOPHRENIA = ("F20.9", "Schizophrenia, unspecified")
BIPOLAR = ("F31.9", "Bipolar disorder, unspecified")
CHRONIC_PAIN = ("G89.29", "Other chronic pain")
HYPERTENSION = ("I10", "Essential (primary) hypertension")
STREP_THROAT = ("J02.0", "Streptococcal pharyngitis")

# Medications kept as separate resources (Medication.ndjson), referenced by some orders.
SHARED_MEDICATIONS = (
    medication("ex-med-sertraline-100", DRUGS["sertraline100"], "Oral Tablet"),
    medication("ex-med-aripiprazole-10", DRUGS["aripiprazole"], "Oral Tablet"),
)


def every(first: int, step: int, count: int) -> list[int]:
    """``count`` fill days: first, first+step, ..."""
    return [first + step * k for k in range(count)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdc:
    """One expected line of adherence.ndjson (period runs from the first fill to day 0)."""

    group: str
    first_fill: int  # day offset of the index fill
    days_covered: int
    fills: int
    basis: str = "dispense"

    @property
    def days_in_period(self) -> int:
        return 1 - self.first_fill

    @property
    def value(self) -> float:
        return round(self.days_covered / self.days_in_period, 4)

    @property
    def adherent(self) -> bool:
        return self.value >= 0.80


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """One expected finding: its rule id, severity when the contract fixes it, and a note."""

    rule: str
    severity: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    number: int
    given: str
    family: str
    gender: str
    birth: str
    title: str  # what the chart holds, one or two sentences
    build: Callable[[Chart], None]
    findings: tuple[Expect, ...] = ()
    absent: tuple[str, ...] = ()  # rules a careless engine might raise here but must not
    pdc: tuple[Pdc, ...] = ()
    notes: str = ""

    @property
    def patient(self) -> str:
        return f"Patient/ex-pt-{self.number:02d}"


# ------------------------------------------------------------------------ one builder per patient


def _moud_adherent(c: Chart, prescriber: str, pharmacy: str) -> None:
    """Buprenorphine/naloxone every 28 days from day -195 (7 fills) plus rescue naloxone."""
    enc = c.encounter(-195, prescriber, "New patient visit: opioid use disorder")
    c.condition(*OUD, -195, enc)
    c.course("bupnal", prescriber, pharmacy, every(-195, 28, 7), 28)
    c.rescue_naloxone(prescriber, pharmacy, -55)


def _p01(c: Chart) -> None:
    enc = c.encounter(-335, "add-a", "New patient visit: opioid use disorder")
    c.condition(*OUD, -335, enc)
    c.course("bupnal", "add-a", "pharm-a", every(-335, 28, 12), 28)
    c.rescue_naloxone("add-a", "pharm-a", -55)


def _p02(c: Chart) -> None:
    enc = c.encounter(-195, "add-b", "New patient visit: opioid use disorder")
    c.condition(*OUD, -195, enc)
    c.course("bupnal", "add-b", "pharm-b", [-195, -167, -117, -67, -39], 28)


def _p03(c: Chart) -> None:
    _moud_adherent(c, "add-a", "pharm-a")
    enc = c.encounter(-89, "psy", "Psychiatry visit: anxiety")
    c.condition(*GAD, -89, enc)
    c.course("alprazolam", "psy", "pharm-b", [-89, -59, -29], 30)


def _p04(c: Chart) -> None:
    enc = c.encounter(-119, "fm", "Office visit: chronic back pain")
    c.condition(*CHRONIC_PAIN, -119, enc)
    c.course("oxycodone10", "fm", "pharm-a", [-119, -89, -59, -29], 30)
    enc = c.encounter(-89, "psy", "Psychiatry visit: anxiety")
    c.condition(*GAD, -89, enc)
    c.course("clonazepam", "psy", "pharm-a", [-89, -59, -29], 30)


def _p05(c: Chart) -> None:
    enc = c.encounter(-200, "fm", "Office visit: back pain")
    c.condition(*CHRONIC_PAIN, -200, enc)
    c.course("oxycodone5", "fm", "pharm-a", [-200, -170, -140], 30, final_status="completed")
    c.rescue_naloxone("fm", "pharm-a", -140)
    enc = c.encounter(-80, "psy", "Psychiatry visit: anxiety")
    c.condition(*GAD, -80, enc)
    c.course("lorazepam", "psy", "pharm-b", [-80, -50, -20], 30)


def _p06(c: Chart) -> None:
    enc = c.encounter(-179, "add-b", "New patient visit: opioid use disorder")
    c.condition(*OUD, -179, enc)
    c.course("naltrexone", "add-b", "pharm-b", every(-179, 30, 6), 30)
    c.rescue_naloxone("add-b", "pharm-b", -59)


def _p07(c: Chart) -> None:
    enc = c.encounter(-119, "add-a", "New patient visit: opioid use disorder")
    c.condition(*OUD, -119, enc)
    c.course("naltrexone", "add-a", "pharm-a", every(-119, 30, 4), 30)
    c.rescue_naloxone("add-a", "pharm-a", -89)
    enc = c.encounter(-59, "fm", "Office visit: knee pain")
    c.condition(*CHRONIC_PAIN, -59, enc)
    c.course("tramadol", "fm", "pharm-b", [-59, -29], 30)


def _p08(c: Chart) -> None:
    enc = c.encounter(-329, "fm", "Office visit: depression")
    c.condition(*MDD, -329, enc)
    c.course("sertraline100", "fm", "pharm-a", every(-329, 30, 11), 30)


def _p09(c: Chart) -> None:
    enc = c.encounter(-279, "fm", "Office visit: depression")
    c.condition(*MDD, -279, enc)
    c.course("sertraline100", "fm", "pharm-b", every(-279, 50, 6), 30)


def _p10(c: Chart) -> None:
    enc = c.encounter(-329, "psy", "Psychiatry visit: depression")
    c.condition(*MDD, -329, enc)
    c.course(
        "escitalopram",
        "psy",
        "pharm-a",
        every(-329, 30, 6),
        30,
        final_status="stopped",
        status_reason="Switched to sertraline (inadequate response)",
    )
    c.encounter(-159, "psy", "Psychiatry follow-up: switch antidepressant")
    c.course("sertraline100", "psy", "pharm-a", [-159, -129, -89, -59, -29], 30)


def _p11(c: Chart) -> None:
    enc = c.encounter(-119, "psy", "Psychiatry visit: schizophrenia")
    c.condition(*SCHIZOPHRENIA, -119, enc)
    c.course("quetiapine", "psy", "pharm-a", every(-119, 30, 4), 30)
    c.encounter(-119, "fm", "Office visit: insomnia and agitation")
    c.course("olanzapine", "fm", "pharm-b", every(-119, 30, 4), 30)


def _p12(c: Chart) -> None:
    enc = c.encounter(-269, "psy", "Psychiatry visit: schizophrenia")
    c.condition(*SCHIZOPHRENIA, -269, enc)
    # The fourth fill comes 5 days early (day -184 instead of -179): carry-over.
    c.course(
        "aripiprazole",
        "psy",
        "pharm-b",
        [-269, -239, -209, -184, -149, -119, -89, -59, -29],
        30,
        medication={
            "medicationReference": {
                "reference": "Medication/ex-med-aripiprazole-10",
                "display": DRUGS["aripiprazole"].text,
            }
        },
    )


def _p13(c: Chart) -> None:
    enc = c.encounter(-209, "psy", "Psychiatry visit: bipolar disorder")
    c.condition(*BIPOLAR, -209, enc)
    c.course("lithium", "psy", "pharm-a", every(-209, 45, 5), 30)


def _p14(c: Chart) -> None:
    enc = c.encounter(-329, "np", "Psychiatric NP visit: depression")
    c.condition(*MDD, -329, enc)
    drug = DRUGS["sertraline100"]
    by_reference = {
        "medicationReference": {
            "reference": "Medication/ex-med-sertraline-100",
            "display": drug.text,
        }
    }
    for index, offset in enumerate([-329, -239, -149, -29]):
        c.order(
            drug,
            "np",
            offset,
            supply=90,
            refills=0,
            status="active" if offset == -29 else "completed",
            medication=by_reference if index == 1 else None,
        )


def _p15(c: Chart) -> None:
    enc = c.encounter(-89, "psy", "Psychiatry visit: treatment-resistant depression")
    c.condition(*MDD_RECURRENT, -89, enc)
    c.course("phenelzine", "psy", "pharm-a", [-89, -59, -29], 30)
    c.encounter(-59, "np", "Psychiatric NP visit (covering clinic)")
    c.course("sertraline50", "np", "pharm-b", [-59, -29], 30)


def _p16(c: Chart) -> None:
    enc = c.encounter(-95, "fm", "Office visit: chronic pain, baseline ECG")
    c.condition(*CHRONIC_PAIN, -95, enc)
    c.observation(-95, "procedure", QTC, millis(440), encounter=enc)
    drug = DRUGS["methadone"]
    c.order(drug, "fm", -89, supply=30, status="completed")
    c.order(drug, "fm", -59, supply=30, status="completed")
    c.order(
        drug,
        "fm",
        -29,
        supply=30,
        contained=[medication("med", drug, "Oral Tablet")],
        medication={"medicationReference": {"reference": "#med"}},
    )
    c.rescue_naloxone("fm", "pharm-a", -89)
    enc = c.encounter(-89, "psy", "Psychiatry visit: depression")
    c.condition(*MDD, -89, enc)
    c.course("sertraline50", "psy", "pharm-b", [-89, -59, -29], 30)
    enc = c.encounter(-20, "fm", "Office visit: follow-up ECG")
    c.observation(-20, "procedure", QTC, millis(510), encounter=enc)


def _uds(c: Chart, prescriber: str, results: dict[str, bool]) -> None:
    enc = c.encounter(-40, prescriber, "Follow-up visit with urine drug screen")
    for minute, (substance, detected) in enumerate(results.items()):
        c.observation(
            -40,
            "laboratory",
            UDS[substance],
            DETECTED if detected else NOT_DETECTED,
            encounter=enc,
            hour=10,
            minute=minute,
        )


def _p17(c: Chart) -> None:
    _moud_adherent(c, "add-b", "pharm-b")
    _uds(c, "add-b", {"buprenorphine": False, "norbuprenorphine": False, "fentanyl": False})


def _p18(c: Chart) -> None:
    _moud_adherent(c, "add-a", "pharm-a")
    _uds(c, "add-a", {"buprenorphine": True, "norbuprenorphine": True, "fentanyl": True})


def _phq9(c: Chart, prescriber: str, offset: int, total: int, item9: int) -> None:
    enc = c.encounter(offset, prescriber, "Follow-up visit with PHQ-9")
    c.observation(offset, "survey", PHQ9_ITEM9, score(item9), encounter=enc, minute=10)
    c.observation(offset, "survey", PHQ9_TOTAL, score(total), encounter=enc, minute=11)


def _p19(c: Chart) -> None:
    enc = c.encounter(-179, "np", "Psychiatric NP visit: depression")
    c.condition(*MDD, -179, enc)
    c.course("sertraline100", "np", "pharm-a", every(-179, 30, 6), 30)
    _phq9(c, "np", -75, total=8, item9=0)
    _phq9(c, "np", -14, total=15, item9=0)


def _p20(c: Chart) -> None:
    enc = c.encounter(-179, "np", "Psychiatric NP visit: depression")
    c.condition(*MDD, -179, enc)
    c.course("fluoxetine", "np", "pharm-b", every(-179, 30, 6), 30)
    _phq9(c, "np", -75, total=12, item9=0)
    _phq9(c, "np", -14, total=11, item9=2)


def _p21(c: Chart) -> None:
    enc = c.encounter(-30, "fm", "Office visit after emergency department overdose visit")
    c.condition(*OUD, -30, enc)
    c.rescue_naloxone("fm", "pharm-b", -30)


def _p22(c: Chart) -> None:
    enc = c.encounter(-89, "fm", "Office visit: chronic neck pain")
    c.condition(*CHRONIC_PAIN, -89, enc)
    c.course("oxycodone5", "fm", "pharm-a", [-89, -59, -29], 30)
    c.rescue_naloxone("fm", "pharm-a", -89)
    enc = c.encounter(-89, "psy", "Psychiatry visit: anxiety")
    c.condition(*GAD, -89, enc)
    c.course("gabapentin", "psy", "pharm-b", [-89, -59, -29], 30)


def _p23(c: Chart) -> None:
    # Short, never-overlapping courses of controlled substances from five prescribers
    # (four of them opioid prescribers) at four pharmacies, all within the last 180 days.
    courses = [
        ("oxycodone5", "fm", "pharm-a", -170, 7),
        ("hydrocodone", "im", "pharm-b", -140, 7),
        ("tramadol", "fm-2", "pharm-c", -110, 10),
        ("hydrocodone", "im-2", "pharm-d", -80, 7),
        ("alprazolam-bid", "psy", "pharm-a", -45, 14),
    ]
    for drug_key, prescriber, pharmacy, offset, supply in courses:
        c.encounter(offset, prescriber, "Office visit")
        c.course(
            drug_key, prescriber, pharmacy, [offset], supply, refills=0, final_status="completed"
        )
    c.rescue_naloxone("fm", "pharm-a", -170)


def _p24(c: Chart) -> None:
    enc = c.encounter(-149, "np", "Psychiatric NP visit: depression and anxiety")
    c.condition(*MDD, -149, enc)
    c.condition(*GAD, -149, enc)
    c.course("sertraline50", "np", "pharm-b", every(-149, 30, 5), 30)
    c.encounter(-10, "np", "Medication reconciliation visit")
    order = c.resources["MedicationRequest"][0]
    c.statement("sertraline50", -10, -149, based_on=f"MedicationRequest/{order['id']}")
    c.statement(
        "alprazolam",
        -10,
        -60,
        note="Patient reports taking alprazolam from a relative's supply; no prescription on file.",
    )


def _p28(c: Chart) -> None:
    enc = c.encounter(-59, "fm", "Office visit: chronic back pain")
    c.condition(*CHRONIC_PAIN, -59, enc)
    c.course("hydrocodone", "fm", "pharm-a", [-59, -29], 30)
    c.rescue_naloxone("fm", "pharm-a", -59)
    c.encounter(-59, "psy", "Psychiatry visit: insomnia")
    c.course("zolpidem", "psy", "pharm-b", [-59, -29], 30)


def _p25(c: Chart) -> None:
    enc = c.encounter(-60, "fm", "Annual wellness visit")
    c.observation(-60, "survey", PHQ9_ITEM9, score(0), encounter=enc, minute=10)
    c.observation(-60, "survey", PHQ9_TOTAL, score(3), encounter=enc, minute=11)


def _p26(c: Chart) -> None:
    enc = c.encounter(-179, "im", "Office visit: hypertension")
    c.condition(*HYPERTENSION, -179, enc)
    c.course("lisinopril", "im", "pharm-a", every(-179, 30, 6), 30)


def _p27(c: Chart) -> None:
    enc = c.encounter(-120, "fm", "Office visit: sore throat")
    c.condition(*STREP_THROAT, -120, enc, abated=-110)
    c.course("amoxicillin", "fm", "pharm-b", [-120], 10, refills=0, final_status="completed")
    c.broken_order("fm", -5)


# --------------------------------------------------------------------------- the table

_NALOXONE_OK = ("naloxone-missing",)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        number=1,
        given="Morgan",
        family="Achterberg",
        gender="female",
        birth="1986-03-14",
        title="Buprenorphine/naloxone, 28-day fills every 28 days for 11 months (12 fills from "
        "day -335); rescue naloxone dispensed.",
        build=_p01,
        absent=_NALOXONE_OK,
        pdc=(Pdc(group="moud", first_fill=-335, days_covered=336, fills=12),),
    ),
    Scenario(
        number=2,
        given="Casey",
        family="Thornbury",
        gender="male",
        birth="1979-11-02",
        title="Buprenorphine/naloxone, 5 fills of 28 days (days -195, -167, -117, -67, -39): "
        "refill gaps of 22 days (-139..-118) and 22 days (-89..-68); the last supply "
        "ended on day -12 (2026-06-18) and the order is still active with a refill "
        "left. No rescue naloxone.",
        build=_p02,
        findings=(
            Expect(rule="pdc-below-threshold", note="moud, 140/196"),
            Expect(rule="moud-gap", note="gaps of 22, 22 and 12 days"),
            Expect(rule="refill-overdue", note="no supply since 2026-06-19"),
            Expect(rule="naloxone-missing"),
        ),
        pdc=(Pdc(group="moud", first_fill=-195, days_covered=140, fills=5),),
    ),
    Scenario(
        number=3,
        given="Riley",
        family="Vanterpool",
        gender="female",
        birth="1991-07-23",
        title="Buprenorphine/naloxone from addiction prescriber A (7 fills every 28 days from "
        "day -195) and alprazolam from the psychiatrist (30-day fills on days -89, -59, "
        "-29): 90 days of overlap. Rescue naloxone dispensed.",
        build=_p03,
        findings=(
            Expect(
                rule="opioid-benzodiazepine",
                severity="moderate",
                note="MOUD + benzodiazepine: coordinate, do not stop the MOUD",
            ),
        ),
        absent=_NALOXONE_OK,
        pdc=(Pdc(group="moud", first_fill=-195, days_covered=196, fills=7),),
    ),
    Scenario(
        number=4,
        given="Dana",
        family="Kowalczyk",
        gender="female",
        birth="1968-01-30",
        title="Oxycodone 10 mg every 6 hours (60 MME/day) from family medicine (30-day fills on "
        "days -119, -89, -59, -29) and clonazepam from the psychiatrist (days -89, -59, "
        "-29): 90 days of overlap. No rescue naloxone.",
        build=_p04,
        findings=(
            Expect(rule="opioid-benzodiazepine", severity="high"),
            Expect(rule="naloxone-missing"),
        ),
    ),
    Scenario(
        number=5,
        given="Jesse",
        family="Abernathy",
        gender="male",
        birth="1972-05-17",
        title="Near miss: oxycodone (family medicine) covering days -200..-111, orders completed; "
        "lorazepam (psychiatrist) from day -80 after 30 days with neither. The two never "
        "overlap. Rescue naloxone dispensed with the oxycodone.",
        build=_p05,
        absent=("opioid-benzodiazepine", "naloxone-missing"),
    ),
    Scenario(
        number=6,
        given="Quinn",
        family="Halvorsen",
        gender="male",
        birth="1988-09-09",
        title="Oral naltrexone 50 mg daily (local code), 30-day fills every 30 days from day "
        "-179 (6 fills). Rescue naloxone dispensed.",
        build=_p06,
        absent=_NALOXONE_OK,
        pdc=(Pdc(group="moud", first_fill=-179, days_covered=180, fills=6),),
    ),
    Scenario(
        number=7,
        given="Taylor",
        family="Oyelaran",
        gender="female",
        birth="1983-12-12",
        title="Naltrexone from addiction prescriber A (fills every 30 days from day -119) while "
        "family medicine prescribes tramadol (30-day fills on days -59 and -29). Rescue "
        "naloxone dispensed.",
        build=_p07,
        findings=(Expect(rule="naltrexone-opioid"),),
        absent=_NALOXONE_OK,
        pdc=(Pdc(group="moud", first_fill=-119, days_covered=120, fills=4),),
    ),
    Scenario(
        number=8,
        given="Jamie",
        family="Castellano",
        gender="female",
        birth="1995-04-04",
        title="Sertraline 100 mg, 30-day fills every 30 days from day -329 (11 fills).",
        build=_p08,
        pdc=(Pdc(group="antidepressant", first_fill=-329, days_covered=330, fills=11),),
    ),
    Scenario(
        number=9,
        given="Robin",
        family="Sørensen",
        gender="male",
        birth="1977-02-21",
        title="Sertraline 100 mg, 30-day fills every 50 days (days -279, -229, -179, -129, -79, "
        "-29). The last fill covers the as-of date, so no refill is overdue.",
        build=_p09,
        findings=(Expect(rule="pdc-below-threshold", note="antidepressant, 180/280"),),
        absent=("refill-overdue",),
        pdc=(Pdc(group="antidepressant", first_fill=-279, days_covered=180, fills=6),),
    ),
    Scenario(
        number=10,
        given="Alexis",
        family="Dubrow",
        gender="female",
        birth="1990-10-10",
        title="Escitalopram for 6 months (6 fills from day -329, covering -329..-150; order "
        "stopped), then sertraline from day -159: the switch fill overlaps the escitalopram "
        "supply by 10 days, and one sertraline refill is 10 days late (days -159, -129, -89, "
        "-59, -29). Different ingredients are not shifted: the 10 overlapping days count "
        "once and the late refill leaves a 10-day gap (-99..-90). If the engine wrongly "
        "shifted across ingredients the PDC would be 330/330.",
        build=_p10,
        absent=("duplicate-therapy", "pdc-below-threshold"),
        pdc=(Pdc(group="antidepressant", first_fill=-329, days_covered=320, fills=11),),
        notes="The 10-day cross-taper overlap of two SSRIs is a deliberate switch, not "
        "duplicate therapy.",
    ),
    Scenario(
        number=11,
        given="Cameron",
        family="Eastwick",
        gender="male",
        birth="1985-06-18",
        title="Quetiapine (local code) from the psychiatrist and olanzapine from family medicine, "
        "both active and dispensed every 30 days from day -119 (4 fills each).",
        build=_p11,
        findings=(Expect(rule="duplicate-therapy", note="antipsychotic"),),
        pdc=(Pdc(group="antipsychotic", first_fill=-119, days_covered=120, fills=8),),
    ),
    Scenario(
        number=12,
        given="Drew",
        family="Palomares",
        gender="male",
        birth="1993-08-27",
        title="Aripiprazole 10 mg every 30 days from day -269 (9 fills); the 4th fill is 5 days "
        "early (day -184), so its supply carries over to start on day -179. The first "
        "order uses medicationReference to Medication/ex-med-aripiprazole-10. Without "
        "carry-over the PDC would be 265/270.",
        build=_p12,
        pdc=(Pdc(group="antipsychotic", first_fill=-269, days_covered=270, fills=9),),
    ),
    Scenario(
        number=13,
        given="Renée",
        family="Whitlock",
        gender="female",
        birth="1981-03-03",
        title="Lithium carbonate (local code), 30-day fills every 45 days (days -209, -164, -119, "
        "-74, -29).",
        build=_p13,
        findings=(Expect(rule="pdc-below-threshold", note="mood-stabilizer, 150/210"),),
        absent=("refill-overdue",),
        pdc=(Pdc(group="mood-stabilizer", first_fill=-209, days_covered=150, fills=5),),
    ),
    Scenario(
        number=14,
        given="Reese",
        family="Maddox",
        gender="female",
        birth="1964-11-29",
        title="Sertraline orders only, no dispenses: 4 orders of 90 days (no refills) authored on "
        "days -329, -239, -149, -29 (0, 90, 180 and 300 days after the first); the second "
        "uses medicationReference to Medication/ex-med-sertraline-100. Coverage -329..-60 "
        "and -29..0.",
        build=_p14,
        pdc=(
            Pdc(group="antidepressant", first_fill=-329, days_covered=300, fills=4, basis="order"),
        ),
    ),
    Scenario(
        number=15,
        given="Emerson",
        family="Kade",
        gender="male",
        birth="1970-07-07",
        title="Phenelzine (MAOI, local code) from the psychiatrist (days -89, -59, -29) and "
        "sertraline from the psychiatric NP (days -59, -29): 60 days of overlap.",
        build=_p15,
        findings=(Expect(rule="serotonergic-maoi"),),
        absent=("duplicate-therapy",),
        pdc=(Pdc(group="antidepressant", first_fill=-89, days_covered=90, fills=5),),
        notes="duplicate-therapy is not expected: MAOI and SSRI are different drug classes.",
    ),
    Scenario(
        number=16,
        given="Harper",
        family="Lindgren",
        gender="female",
        birth="1975-01-15",
        title="Methadone 10 mg every 8 hours for pain: family-medicine orders only (30 days on "
        "days -89, -59, -29; the last one names a #contained Medication). QTc (LOINC "
        "8636-3) 440 ms on day -95, 510 ms on day -20. Sertraline from the psychiatrist "
        "(days -89, -59, -29). Rescue naloxone dispensed.",
        build=_p16,
        findings=(
            Expect(rule="methadone-qt", note="QTc 510 ms > 500 ms"),
            Expect(rule="serotonergic-opioid", note="methadone + sertraline"),
        ),
        absent=_NALOXONE_OK,
        pdc=(Pdc(group="antidepressant", first_fill=-89, days_covered=90, fills=3),),
        notes="Methadone is in the moud group only when configured; then: 3 orders, basis "
        "order, 90/90.",
    ),
    Scenario(
        number=17,
        given="Logan",
        family="Prewitt",
        gender="male",
        birth="1989-05-05",
        title="Buprenorphine/naloxone from addiction prescriber B, 7 fills every 28 days from "
        "day -195; urine drug screen on day -40 (covered by the fill of day -55): "
        "buprenorphine, norbuprenorphine and fentanyl all Not detected. Rescue naloxone.",
        build=_p17,
        findings=(Expect(rule="uds-unexpected-negative", note="buprenorphine"),),
        absent=("uds-unexpected-positive", "naloxone-missing"),
        pdc=(Pdc(group="moud", first_fill=-195, days_covered=196, fills=7),),
    ),
    Scenario(
        number=18,
        given="Skyler",
        family="Ransome",
        gender="female",
        birth="1996-02-14",
        title="Buprenorphine/naloxone from addiction prescriber A, 7 fills every 28 days from "
        "day -195; urine drug screen on day -40: buprenorphine and norbuprenorphine "
        "Detected (expected), fentanyl Detected (not prescribed). Rescue naloxone.",
        build=_p18,
        findings=(Expect(rule="uds-unexpected-positive", note="fentanyl"),),
        absent=("uds-unexpected-negative", "naloxone-missing"),
        pdc=(Pdc(group="moud", first_fill=-195, days_covered=196, fills=7),),
    ),
    Scenario(
        number=19,
        given="Parker",
        family="Nwosu",
        gender="male",
        birth="1987-12-01",
        title="Sertraline 100 mg every 30 days from day -179 (6 fills); PHQ-9 total 8 on day "
        "-75 and 15 on day -14 (item 9 = 0 both times).",
        build=_p19,
        findings=(Expect(rule="phq9-worsening", note="8 -> 15"),),
        absent=("phq9-suicidality",),
        pdc=(Pdc(group="antidepressant", first_fill=-179, days_covered=180, fills=6),),
    ),
    Scenario(
        number=20,
        given="Rowan",
        family="Bexley",
        gender="female",
        birth="1999-09-19",
        title="Fluoxetine 20 mg every 30 days from day -179 (6 fills); PHQ-9 total 12 on day "
        "-75 (item 9 = 0) and 11 on day -14 with item 9 (LOINC 44260-8) = 2.",
        build=_p20,
        findings=(Expect(rule="phq9-suicidality", note="item 9 = 2 on day -14"),),
        absent=("phq9-worsening",),
        pdc=(Pdc(group="antidepressant", first_fill=-179, days_covered=180, fills=6),),
    ),
    Scenario(
        number=21,
        given="Charlie",
        family="Greaves",
        gender="male",
        birth="1984-04-24",
        title="Active opioid use disorder diagnosis (ICD-10-CM F11.20) recorded on day -30; no "
        "buprenorphine, methadone or naltrexone ever. Rescue naloxone dispensed on day "
        "-30, so only the treatment gap remains.",
        build=_p21,
        findings=(Expect(rule="oud-untreated"),),
        absent=_NALOXONE_OK,
    ),
    Scenario(
        number=22,
        given="Finley",
        family="Osei",
        gender="female",
        birth="1962-06-06",
        title="Oxycodone 5 mg every 6 hours from family medicine and gabapentin (local code) "
        "from the psychiatrist, both dispensed on days -89, -59, -29. Rescue naloxone.",
        build=_p22,
        findings=(Expect(rule="opioid-gabapentinoid"),),
        absent=_NALOXONE_OK,
    ),
    Scenario(
        number=23,
        given="Hayden",
        family="Crowther",
        gender="male",
        birth="1980-08-08",
        title="Short, never-overlapping courses of controlled substances within 180 days: "
        "oxycodone (day -170, family medicine, pharmacy A), hydrocodone (day -140, internal "
        "medicine, pharmacy B), tramadol (day -110, second family physician, pharmacy C), "
        "hydrocodone (day -80, second internist, pharmacy D), alprazolam (day -45, "
        "psychiatrist, pharmacy A). 5 prescribers of controlled substances (4 of opioids), "
        "4 pharmacies. Rescue naloxone dispensed on day -170.",
        build=_p23,
        findings=(Expect(rule="multiple-prescribers"),),
        absent=("opioid-benzodiazepine", "naloxone-missing"),
    ),
    Scenario(
        number=24,
        given="Elliot",
        family="Marchetti",
        gender="female",
        birth="1992-03-31",
        title="Sertraline 50 mg from the psychiatric NP every 30 days from day -149 (5 fills). "
        "On day -10 the patient reports (MedicationStatement, active) sertraline, which "
        "matches the order, and alprazolam, which no one ordered or dispensed.",
        build=_p24,
        findings=(Expect(rule="medication-list-discrepancy", note="alprazolam"),),
        pdc=(Pdc(group="antidepressant", first_fill=-149, days_covered=150, fills=5),),
    ),
    Scenario(
        number=25,
        given="Sage",
        family="Holloway",
        gender="female",
        birth="2001-01-11",
        title="Clean control: no medications; one PHQ-9 total of 3 on day -60.",
        build=_p25,
    ),
    Scenario(
        number=26,
        given="Blair",
        family="Renaud",
        gender="male",
        birth="1958-10-20",
        title="Clean control: lisinopril only (local code, matched by no drug class), 30-day "
        "fills every 30 days from day -179.",
        build=_p26,
    ),
    Scenario(
        number=27,
        given="Emery",
        family="Castillo",
        gender="female",
        birth="1997-12-25",
        title="Clean control: a completed 10-day course of amoxicillin (day -120). Also holds "
        "the dataset's one unusable resource: MedicationRequest/ex-mr-27-2 (day -5) has no "
        "medication[x]; it is skipped with a counted reason (dead letter).",
        build=_p27,
    ),
    Scenario(
        number=28,
        given="Quinn",
        family="Abernathy",
        gender="female",
        birth="1971-05-19",
        title="Hydrocodone from family medicine and zolpidem (z-drug hypnotic, local code) from "
        "the psychiatrist, both dispensed on days -59 and -29 (30 days each): 60 days of "
        "overlap. Rescue naloxone dispensed.",
        build=_p28,
        findings=(
            Expect(
                rule="opioid-sedative-hypnotic",
                severity="high",
                note="opioid analgesic + z-drug (the opioid boxed warning covers them)",
            ),
        ),
        absent=("opioid-benzodiazepine", "naloxone-missing"),
    ),
)

#: The one resource that is deliberately invalid FHIR (the dead-letter path).
DEAD_LETTER = "MedicationRequest/ex-mr-27-2"
