"""Constructed example data: the drug products, prescribers and pharmacies the scenarios use.

Codes: RxNorm ingredient codes only where shared/reference/codes-verified.md marks them verified
(or CPIC/OMTK-sourced); every other drug gets a local formulary code and is recognised by the
ingredient name in its display text. NUCC taxonomy codes are the verified ones.
"""

from __future__ import annotations

from dataclasses import dataclass

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# Local formulary code system (a made-up OID arc under the HL7 example root).
LOCAL_FORMULARY = "urn:oid:2.16.840.1.113883.3.9999.1"
NUCC = "http://nucc.org/provider-taxonomy"
UCUM = "http://unitsofmeasure.org"
EXAMPLE_ID_SYSTEM = "urn:fhirbridge:example"


@dataclass(frozen=True, slots=True, kw_only=True)
class Drug:
    """One orderable product and its usual sig."""

    key: str
    text: str  # product-like name, e.g. "Sertraline 100 MG Oral Tablet"
    system: str  # RXNORM (ingredient code) or LOCAL_FORMULARY
    code: str
    display: str  # RxNorm: the ingredient's name; local: the product text
    dose: int  # units per administration
    unit: str  # UCUM annotation for the unit, e.g. "{tablet}"
    unit_text: str  # human unit, e.g. "tablet"
    frequency: int  # administrations per period
    period: int
    period_unit: str  # UCUM time unit: "d", "min"
    sig: str
    schedule: str | None = None  # US DEA schedule: "CII", "CIII", "CIV" (None: not controlled)
    as_needed: bool = False

    @property
    def units_per_day(self) -> int:
        """Units taken per day on the scheduled sig (only for period_unit "d")."""
        if self.period_unit != "d" or self.frequency % self.period:
            raise ValueError(f"{self.key}: no whole number of units per day")
        return self.dose * self.frequency // self.period

    @property
    def max_refills(self) -> int:
        """Refills a prescriber can authorise on one order (21 CFR 1306.12 and 1306.22)."""
        return {"CII": 0, "CIII": 5, "CIV": 5}.get(self.schedule or "", 11)


def _rx(key: str, code: str, ingredient: str, text: str, **kw: object) -> Drug:
    return Drug(key=key, system=RXNORM, code=code, display=ingredient, text=text, **kw)  # type: ignore[arg-type]


def _local(key: str, number: int, text: str, **kw: object) -> Drug:
    return Drug(key=key, system=LOCAL_FORMULARY, code=f"LF-{number}", display=text, text=text, **kw)  # type: ignore[arg-type]


_TAB = {"unit": "{tablet}", "unit_text": "tablet"}
_CAP = {"unit": "{capsule}", "unit_text": "capsule"}
_DAILY = {"dose": 1, "frequency": 1, "period": 1, "period_unit": "d"}
_BID = {"dose": 1, "frequency": 2, "period": 1, "period_unit": "d"}
_TID = {"dose": 1, "frequency": 3, "period": 1, "period_unit": "d"}
_Q6H = {"dose": 1, "frequency": 4, "period": 1, "period_unit": "d"}

DRUGS: dict[str, Drug] = {
    d.key: d
    for d in (
        # --- MOUD and rescue naloxone
        _rx(
            "bupnal",
            "352364",
            "buprenorphine / naloxone",
            "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film",
            dose=2,
            unit="{film}",
            unit_text="film",
            frequency=1,
            period=1,
            period_unit="d",
            sig="Dissolve 2 films (16 mg/4 mg) under the tongue once daily",
            schedule="CIII",
        ),
        _rx(
            "naloxone",
            "7242",
            "naloxone",
            "Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray",
            dose=1,
            unit="{spray}",
            unit_text="spray",
            frequency=1,
            period=3,
            period_unit="min",
            sig="For suspected opioid overdose: spray 4 mg into one nostril; may repeat every "
            "2 to 3 minutes in alternate nostrils; call 911",
            as_needed=True,
        ),
        _local(
            "naltrexone",
            101,
            "Naltrexone Hydrochloride 50 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (50 mg) by mouth once daily",
        ),
        _rx(
            "methadone",
            "6813",
            "methadone",
            "Methadone Hydrochloride 10 MG Oral Tablet",
            **_TAB,
            **_TID,
            sig="Take 1 tablet (10 mg) by mouth every 8 hours for pain",
            schedule="CII",
        ),
        # --- opioid analgesics
        _rx(
            "oxycodone10",
            "7804",
            "oxycodone",
            "Oxycodone Hydrochloride 10 MG Oral Tablet",
            **_TAB,
            **_Q6H,
            sig="Take 1 tablet (10 mg) by mouth every 6 hours for pain",
            schedule="CII",
        ),
        _rx(
            "oxycodone5",
            "7804",
            "oxycodone",
            "Oxycodone Hydrochloride 5 MG Oral Tablet",
            **_TAB,
            **_Q6H,
            sig="Take 1 tablet (5 mg) by mouth every 6 hours for pain",
            schedule="CII",
        ),
        _rx(
            "hydrocodone",
            "5489",
            "hydrocodone",
            "Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet",
            **_TAB,
            **_Q6H,
            sig="Take 1 tablet by mouth every 6 hours for pain",
            schedule="CII",
        ),
        _rx(
            "tramadol",
            "10689",
            "tramadol",
            "Tramadol Hydrochloride 50 MG Oral Tablet",
            **_TAB,
            **_Q6H,
            sig="Take 1 tablet (50 mg) by mouth every 6 hours for pain",
            schedule="CIV",
        ),
        # --- benzodiazepines and gabapentinoids (local codes: RxNorm codes not verified)
        _local(
            "alprazolam",
            102,
            "Alprazolam 0.5 MG Oral Tablet",
            **_TAB,
            **_TID,
            sig="Take 1 tablet (0.5 mg) by mouth three times daily for anxiety",
            schedule="CIV",
        ),
        _local(
            "alprazolam-bid",
            102,
            "Alprazolam 0.5 MG Oral Tablet",
            **_TAB,
            **_BID,
            sig="Take 1 tablet (0.5 mg) by mouth twice daily for anxiety",
            schedule="CIV",
        ),
        _local(
            "clonazepam",
            103,
            "Clonazepam 1 MG Oral Tablet",
            **_TAB,
            **_BID,
            sig="Take 1 tablet (1 mg) by mouth twice daily",
            schedule="CIV",
        ),
        _local(
            "lorazepam",
            104,
            "Lorazepam 1 MG Oral Tablet",
            **_TAB,
            **_BID,
            sig="Take 1 tablet (1 mg) by mouth twice daily for anxiety",
            schedule="CIV",
        ),
        _local(
            "zolpidem",
            111,
            "Zolpidem Tartrate 10 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (10 mg) by mouth at bedtime",
            schedule="CIV",
        ),
        _local(
            "gabapentin",
            107,
            "Gabapentin 300 MG Oral Capsule",
            **_CAP,
            **_TID,
            sig="Take 1 capsule (300 mg) by mouth three times daily",
        ),
        # --- antidepressants
        _rx(
            "sertraline100",
            "36437",
            "sertraline",
            "Sertraline 100 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (100 mg) by mouth once daily",
        ),
        _rx(
            "sertraline50",
            "36437",
            "sertraline",
            "Sertraline 50 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (50 mg) by mouth once daily",
        ),
        _rx(
            "escitalopram",
            "321988",
            "escitalopram",
            "Escitalopram 10 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (10 mg) by mouth once daily",
        ),
        _rx(
            "fluoxetine",
            "4493",
            "fluoxetine",
            "Fluoxetine 20 MG Oral Capsule",
            **_CAP,
            **_DAILY,
            sig="Take 1 capsule (20 mg) by mouth every morning",
        ),
        _local(
            "phenelzine",
            108,
            "Phenelzine 15 MG Oral Tablet",
            **_TAB,
            **_TID,
            sig="Take 1 tablet (15 mg) by mouth three times daily",
        ),
        # --- antipsychotics and mood stabilisers
        _local(
            "quetiapine",
            105,
            "Quetiapine 200 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (200 mg) by mouth at bedtime",
        ),
        _rx(
            "olanzapine",
            "61381",
            "olanzapine",
            "Olanzapine 10 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (10 mg) by mouth once daily",
        ),
        _rx(
            "aripiprazole",
            "89013",
            "aripiprazole",
            "Aripiprazole 10 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (10 mg) by mouth once daily",
        ),
        _local(
            "lithium",
            106,
            "Lithium Carbonate 300 MG Oral Capsule",
            **_CAP,
            **_TID,
            sig="Take 1 capsule (300 mg) by mouth three times daily",
        ),
        # --- unrelated drugs for the clean controls
        _local(
            "lisinopril",
            109,
            "Lisinopril 10 MG Oral Tablet",
            **_TAB,
            **_DAILY,
            sig="Take 1 tablet (10 mg) by mouth once daily",
        ),
        _local(
            "amoxicillin",
            110,
            "Amoxicillin 500 MG Oral Capsule",
            **_CAP,
            **_TID,
            sig="Take 1 capsule (500 mg) by mouth three times daily for 10 days",
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Prescriber:
    """A made-up prescriber: one Practitioner and one PractitionerRole."""

    key: str  # ids: ex-prac-<key>, ex-role-<key>
    given: str
    family: str
    prefix: str
    suffix: str
    gender: str
    taxonomy: str  # NUCC code, verified in shared/reference/codes-verified.md section 4
    taxonomy_display: str
    role: str  # http://terminology.hl7.org/CodeSystem/practitioner-role: doctor | nurse

    @property
    def ref(self) -> str:
        return f"Practitioner/ex-prac-{self.key}"

    @property
    def label(self) -> str:
        return f"{self.given} {self.family}, {self.suffix} ({self.taxonomy_display})"


PRESCRIBERS: dict[str, Prescriber] = {
    p.key: p
    for p in (
        Prescriber(
            key="psy",
            given="Helena",
            family="Marsh",
            prefix="Dr.",
            suffix="MD",
            gender="female",
            taxonomy="2084P0800X",
            taxonomy_display="Psychiatry Physician",
            role="doctor",
        ),
        Prescriber(
            key="add-a",
            given="Daniel",
            family="Reyes",
            prefix="Dr.",
            suffix="DO",
            gender="male",
            taxonomy="2084A0401X",
            taxonomy_display="Addiction Medicine (Psychiatry & Neurology) Physician",
            role="doctor",
        ),
        Prescriber(
            key="add-b",
            given="Priya",
            family="Natarajan",
            prefix="Dr.",
            suffix="MD",
            gender="female",
            taxonomy="207QA0401X",
            taxonomy_display="Addiction Medicine (Family Medicine) Physician",
            role="doctor",
        ),
        Prescriber(
            key="fm",
            given="Thomas",
            family="Whitfield",
            prefix="Dr.",
            suffix="MD",
            gender="male",
            taxonomy="207Q00000X",
            taxonomy_display="Family Medicine Physician",
            role="doctor",
        ),
        Prescriber(
            key="fm-2",
            given="Grace",
            family="Ilunga",
            prefix="Dr.",
            suffix="MD",
            gender="female",
            taxonomy="207Q00000X",
            taxonomy_display="Family Medicine Physician",
            role="doctor",
        ),
        Prescriber(
            key="im",
            given="Samuel",
            family="Brandt",
            prefix="Dr.",
            suffix="MD",
            gender="male",
            taxonomy="207R00000X",
            taxonomy_display="Internal Medicine Physician",
            role="doctor",
        ),
        Prescriber(
            key="im-2",
            given="Lucía",
            family="Ferreira",
            prefix="Dr.",
            suffix="MD",
            gender="female",
            taxonomy="207R00000X",
            taxonomy_display="Internal Medicine Physician",
            role="doctor",
        ),
        Prescriber(
            key="np",
            given="Jordan",
            family="Ellis",
            prefix="",
            suffix="PMHNP-BC",
            gender="other",
            taxonomy="363LP0808X",
            taxonomy_display="Psychiatric/Mental Health Nurse Practitioner",
            role="nurse",
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Pharmacy:
    """A made-up community pharmacy (an Organization)."""

    key: str  # id: ex-org-<key>
    name: str
    city: str

    @property
    def ref(self) -> str:
        return f"Organization/ex-org-{self.key}"


PHARMACIES: dict[str, Pharmacy] = {
    p.key: p
    for p in (
        Pharmacy(key="pharm-a", name="Cedar Street Pharmacy", city="Springfield"),
        Pharmacy(key="pharm-b", name="Riverside Community Pharmacy", city="Springfield"),
        # Used only by the multiple-prescribers scenario (patient 23).
        Pharmacy(key="pharm-c", name="Northgate Drug", city="Shelbyville"),
        Pharmacy(key="pharm-d", name="Harbor Lane Pharmacy", city="Capital City"),
    )
}
