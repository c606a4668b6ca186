"""Drug classification (mappers/terminology.py, config/drug-classes.toml), case by case.

Each case says why its classes/groups are what they are. Groups come from [groups] in the table:
moud = buprenorphine + naltrexone (+ methadone when configured); antidepressant = ssri, snri,
maoi, antidepressant-other; antipsychotic; mood-stabilizer.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fhirbridge.errors import ConfigError
from fhirbridge.mappers import Terminology, load_terminology
from fhirbridge.mappers.terminology import default_table_path

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
LOCAL = "urn:oid:1.2.3.4|FORM-77"  # an integrator's formulary code


@pytest.fixture(scope="module")
def term() -> Terminology:
    return load_terminology(local_codes={LOCAL: ["sertraline"]})


def rx(code: str, display: str | None = None) -> dict:
    coding = {"system": RX, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


CASES = [
    # --- by RxNorm ingredient code -----------------------------------------------------------
    pytest.param(rx("1819"), {"buprenorphine"}, {"moud"}, id="IN-1819-buprenorphine"),
    pytest.param(rx("36437"), {"ssri"}, {"antidepressant"}, id="IN-36437-sertraline"),
    pytest.param(rx("61381"), {"antipsychotic"}, {"antipsychotic"}, id="IN-61381-olanzapine"),
    pytest.param(rx("28439"), {"mood-stabilizer"}, {"mood-stabilizer"}, id="IN-28439-lamotrigine"),
    # Opioid analgesics and benzodiazepines are rule classes, not adherence groups.
    pytest.param(rx("7804"), {"opioid-analgesic"}, set(), id="IN-7804-oxycodone"),
    pytest.param(rx("3322"), {"benzodiazepine"}, set(), id="IN-3322-diazepam"),
    # Methadone: no group by default (OTP dosing rarely reaches the EHR; see the TOML).
    pytest.param(rx("6813"), {"methadone"}, set(), id="IN-6813-methadone-not-moud"),
    # --- buprenorphine/naloxone: naloxone is an abuse deterrent there, never a rescue kit -----
    pytest.param(rx("352364"), {"buprenorphine"}, {"moud"}, id="MIN-352364-bup-nal"),
    pytest.param(
        {"text": "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"},
        {"buprenorphine"},
        {"moud"},
        id="bup-nal-by-text",
    ),
    # --- naloxone rescue: sole ingredient only ------------------------------------------------
    pytest.param(rx("7242"), {"naloxone-rescue"}, set(), id="IN-7242-naloxone"),
    pytest.param(
        {"text": "naloxone hydrochloride 4 MG/ACTUAT Nasal Spray"},
        {"naloxone-rescue"},
        set(),
        id="nasal-spray-by-text",
    ),  # "MG/ACTUAT" is a unit
    # RxNorm + NDC codings of one spray: the joined displays contain " / " but it is one product.
    pytest.param(
        {
            "coding": [
                {"system": RX, "code": "7242", "display": "naloxone"},
                {
                    "system": NDC,
                    "code": "69547-353-02",
                    "display": "Narcan 4 MG/ACTUAT Nasal Spray",
                },
            ]
        },
        {"naloxone-rescue"},
        set(),
        id="nasal-spray-rxnorm-plus-ndc",
    ),
    # Pentazocine/naloxone is an oral opioid analgesic (naloxone deters injection).
    pytest.param(
        {"text": "Pentazocine 50 MG / Naloxone 0.5 MG Oral Tablet"},
        {"opioid-analgesic"},
        set(),
        id="pentazocine-naloxone-not-rescue",
    ),
    # An unknown partner: still a combination, so not rescue; nothing else known.
    pytest.param({"text": "Foo 5 MG / Naloxone 1 MG"}, set(), set(), id="unknown-combo-not-rescue"),
    # --- Synthea-style displays, case-insensitive ---------------------------------------------
    pytest.param(
        {"text": "Acetaminophen 325 MG / HYDROcodone Bitartrate 5 MG Oral Tablet"},
        {"opioid-analgesic"},
        set(),
        id="synthea-HYDROcodone",
    ),
    pytest.param(
        rx("999999", "Clonazepam [Klonopin]"),
        {"benzodiazepine"},
        set(),
        id="unknown-code-display-Klonopin",
    ),
    pytest.param({"text": "Diazepam [Valium]"}, {"benzodiazepine"}, set(), id="Valium"),
    pytest.param(
        {"text": "24 HR Alprazolam 0.5 MG Extended Release Oral Tablet"},
        {"benzodiazepine"},
        set(),
        id="24HR-alprazolam",
    ),
    pytest.param({"text": "SERTRALINE 50 MG"}, {"ssri"}, {"antidepressant"}, id="upper-case"),
    # --- synonyms -----------------------------------------------------------------------------
    pytest.param(
        {"text": "Lithium Carbonate 300 MG Oral Capsule"},
        {"mood-stabilizer"},
        {"mood-stabilizer"},
        id="lithium-carbonate",
    ),
    pytest.param(
        {"text": "Divalproex Sodium 500 MG Delayed Release Oral Tablet"},
        {"mood-stabilizer"},
        {"mood-stabilizer"},
        id="divalproex-valproic-acid",
    ),
    # --- MAO inhibitors that are not antidepressants: the serotonergic rule only -------------
    pytest.param({"text": "Linezolid 600 MG Oral Tablet"}, {"maoi"}, set(), id="linezolid"),
    pytest.param(
        {"text": "Methylene Blue 10 MG/ML Injectable Solution"},
        {"maoi"},
        set(),
        id="methylene-blue",
    ),
    pytest.param({"text": "Phenelzine 15 MG"}, {"maoi"}, {"antidepressant"}, id="phenelzine"),
    # --- local codes win over text ------------------------------------------------------------
    pytest.param(
        {"coding": [{"system": "urn:oid:1.2.3.4", "code": "FORM-77"}], "text": "Olanzapine 5 MG"},
        {"ssri"},
        {"antidepressant"},
        id="local-code-beats-text",
    ),
]


@pytest.mark.parametrize(("concept", "classes", "groups"), CASES)
def test_classify(term: Terminology, concept: dict, classes: set, groups: set) -> None:
    drug = term.classify(concept)
    assert drug.classes == classes
    assert drug.groups == groups


@pytest.mark.parametrize(
    ("concept", "known", "ingredients"),
    [
        # The MIN expands to both ingredients: PDC carry-over matches on buprenorphine.
        (rx("352364"), True, ("buprenorphine", "naloxone")),
        # Acetaminophen is not in the table, but hydrocodone is: the product is known.
        ({"text": "Acetaminophen 325 MG / HYDROcodone Bitartrate 5 MG"}, True, ("hydrocodone",)),
        (
            {"coding": [{"system": "urn:oid:9", "code": "X1"}], "text": "Ibuprofen 200 MG"},
            False,
            (),
        ),
        (None, False, ()),  # unresolved medicationReference at ingest
    ],
    ids=["min-ingredients", "partly-known", "unknown-local-code-and-text", "none"],
)
def test_known(term: Terminology, concept: dict | None, known: bool, ingredients: tuple) -> None:
    drug = term.classify(concept)
    assert (drug.known, drug.ingredients) == (known, ingredients)


@pytest.mark.parametrize(("flag", "groups"), [(False, set()), (True, {"moud"})])
def test_methadone_joins_moud_only_when_configured(flag: bool, groups: set) -> None:
    drug = load_terminology(moud_includes_methadone=flag).classify({"text": "Methadone 10 MG"})
    assert (drug.classes, drug.groups) == ({"methadone"}, groups)


# ---- the shipped table ---------------------------------------------------------------------

TABLE = tomllib.loads(default_table_path().read_text(encoding="utf-8"))

# (name, rxcui) pairs the reference documents list: shared/reference/codes-verified.md section 1
# (VERIFIED rows, and "also confirmed in passing") and shared/reference/clinical-anchors.md
# section 4.1 (the confirmed table, CPIC/OMTK). A code is allowed for *that* drug only.
ALLOWED = {
    ("buprenorphine", "1819"),
    ("methadone", "6813"),
    ("naltrexone", "7243"),
    ("naloxone", "7242"),
    ("oxycodone", "7804"),
    ("hydrocodone", "5489"),
    ("tramadol", "10689"),
    ("morphine", "7052"),
    ("fentanyl", "4337"),
    ("codeine", "2670"),
    ("hydromorphone", "3423"),
    ("oxymorphone", "7814"),
    ("tapentadol", "787390"),
    ("meperidine", "6754"),
    ("sertraline", "36437"),
    ("fluoxetine", "4493"),
    ("escitalopram", "321988"),
    ("citalopram", "2556"),
    ("paroxetine", "32937"),
    ("venlafaxine", "39786"),
    ("duloxetine", "72625"),
    ("bupropion", "42347"),
    ("mirtazapine", "15996"),
    ("olanzapine", "61381"),
    ("risperidone", "35636"),
    ("aripiprazole", "89013"),
    ("lamotrigine", "28439"),
    ("valproic acid", "11118"),
    ("diazepam", "3322"),
    ("clozapine", "2626"),
    ("haloperidol", "5093"),
    ("fluvoxamine", "42355"),
    ("amitriptyline", "704"),
    ("carisoprodol", "2101"),
    ("midazolam", "6960"),
    ("oxazepam", "7781"),
    ("methylene blue", "6878"),
    ("vortioxetine", "1455099"),
}
ALLOWED_PRODUCTS = {"352364"}  # codes-verified.md: buprenorphine / naloxone MIN, VERIFIED (VSAC)
# Codes codes-verified.md marks UNVERIFIED or CONFLICT (or names as ad-hoc "do not use"): never
# shipped as an rxcui, even where clinical-anchors.md 4.1 lists them (CPIC-only codes).
NOT_VERIFIED = {
    "7243",
    "5093",
    "2626",
    "2002",
    "11118",
    "266856",
    "6878",
    "51272",
    "10737",
    "6448",
    "42351",
    "596",
    "2598",
    "6470",
    "39993",
    "39968",
    "103971",
    "25480",
    "187832",
    "8123",
    "10734",
    "115698",
    "108140",
}
INGREDIENTS = sorted(TABLE["ingredients"].items())


@pytest.mark.parametrize(("name", "entry"), INGREDIENTS, ids=[n for n, _ in INGREDIENTS])
def test_table_entry_is_sourced_and_verified(name: str, entry: dict) -> None:
    assert entry["source"].strip(), f"{name}: empty source"
    if entry["rxcui"]:
        assert (name, entry["rxcui"]) in ALLOWED, f"{name} {entry['rxcui']} is not in the refs"
        assert entry["rxcui"] not in NOT_VERIFIED


def test_table_products_are_verified() -> None:
    for code, product in TABLE.get("products", {}).items():
        assert code in ALLOWED_PRODUCTS
        assert code not in NOT_VERIFIED
        assert product["source"].strip()
        assert set(product["ingredients"]) <= set(TABLE["ingredients"])


# ---- a bad table stops start-up with file, path and problem --------------------------------

GOOD = '[groups]\nmoud = ["buprenorphine"]\n'
BUP = '[ingredients.buprenorphine]\nrxcui = "1819"\nclasses = ["buprenorphine"]\n'


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        (GOOD + BUP, "ingredients/buprenorphine", "'source' is a required property"),
        (
            GOOD + BUP + 'source = "x"\n[products."352364"]\ningredients = ["buprenorphine", '
            '"naloxone"]\nsource = "x"\n',
            "products/352364/ingredients",
            "'naloxone'",
        ),
        (GOOD + BUP + 'source = ""\n', "ingredients/buprenorphine/source", "non-empty"),
        ("[groups\n", "", "not valid TOML"),  # tomllib's message carries line and column
    ],
    ids=["missing-source", "unknown-product-ingredient", "empty-source", "bad-toml"],
)
def test_bad_table(tmp_path: Path, text: str, path: str, problem: str) -> None:
    table = tmp_path / "drug-classes.toml"
    table.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_terminology(table)
    assert (info.value.file, info.value.path) == (str(table), path)
    assert problem in info.value.problem
    assert str(table) in str(info.value)
