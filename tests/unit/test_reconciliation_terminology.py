"""Terminology and roles the reconciliation rules stand on, and configuration that stops start-up.

- buprenorphine formulations for pain are opioid analgesics, MOUD formulations stay MOUD;
- brand names and RxNorm product displays normalise to ingredients;
- integrator mapping files: medication codes and prescriber roles, errors naming the file;
- prescriber roles from NUCC specialty under both system URIs, else from the mappings;
- a malformed rule configuration or mapping file: one line with file, path and problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirbridge.analysis import AnalysisParams
from fhirbridge.cli import main
from fhirbridge.errors import ConfigError
from fhirbridge.mappers import (
    load_mapping_files,
    load_role_table,
    load_terminology,
    prescribers_from,
)
from fhirbridge.reconciliation import RULE_PARAMS
from fhirbridge.records import PrescriberRole
from fhirbridge.settings import load_settings

TERMINOLOGY = load_terminology()
NUCC = "http://nucc.org/provider-taxonomy"
NUCC_OLD = "http://terminology.hl7.org/CodeSystem/v3-nuccProviderCodes"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.mark.parametrize(
    ("text", "classes", "groups"),
    [
        # Pain formulations (J Pain Res 2021;14:1359; PMC8792317 table 3).
        ("buprenorphine 5 MCG/HR Weekly Transdermal System", {"opioid-analgesic"}, set()),
        ("Butrans 10 mcg/hour patch", {"opioid-analgesic"}, set()),
        ("buprenorphine 150 MCG Buccal Film [Belbuca]", {"opioid-analgesic"}, set()),
        ("1 ML buprenorphine 0.3 MG/ML Injection [Buprenex]", {"opioid-analgesic"}, set()),
        # MOUD formulations.
        ("Buprenorphine 8 MG Sublingual Tablet", {"buprenorphine"}, {"moud"}),
        (
            "Buprenorphine 4.2 MG / Naloxone 0.7 MG Buccal Film [Bunavail]",
            {"buprenorphine"},
            {"moud"},
        ),
        (
            "0.5 ML buprenorphine 200 MG/ML Prefilled Syringe [Sublocade]",
            {"buprenorphine"},
            {"moud"},
        ),
        ("buprenorphine 74.2 MG Drug Implant", {"buprenorphine"}, {"moud"}),
        ("Zubsolv 5.7 mg-1.4 mg sublingual tablet", {"buprenorphine"}, {"moud"}),
        # Brands alone, as EHR free text writes them.
        ("Suboxone 8 mg film", {"buprenorphine"}, {"moud"}),
        ("Vivitrol 380 mg", {"naltrexone"}, {"moud"}),
        ("Klonopin 1 mg", {"benzodiazepine"}, set()),
        ("Ambien 10 mg at bedtime", {"z-drug"}, set()),
        ("Narcan nasal spray", {"naloxone-rescue"}, set()),
        ("nalmefene 2.7 MG Nasal Spray", {"naloxone-rescue"}, set()),
        # Other opioids' patches are untouched by the buprenorphine formulations.
        ("Fentanyl 0.025 MG/HR Transdermal System", {"opioid-analgesic"}, set()),
    ],
)
def test_formulations_and_brands(text: str, classes: set[str], groups: set[str]) -> None:
    drug = TERMINOLOGY.classify({"text": text})
    assert (set(drug.classes), set(drug.groups)) == (classes, groups)


def test_ingredient_code_with_a_patch_display_is_still_a_pain_formulation() -> None:
    # RxNorm ingredient 1819 (verified) with a product display: the display decides the use.
    drug = TERMINOLOGY.classify(
        {"coding": [{"system": RX, "code": "1819", "display": "buprenorphine 10 MCG/HR Patch"}]}
    )
    assert drug.classes == {"opioid-analgesic"}


def test_unknown_rxnorm_product_code_is_normalised_through_its_display() -> None:
    # An SCD code no table lists (the number is arbitrary): the display names two ingredients.
    drug = TERMINOLOGY.classify(
        {
            "coding": [
                {
                    "system": RX,
                    "code": "000000",
                    "display": "Olanzapine 6 MG / Fluoxetine 25 MG Oral Capsule",
                }
            ]
        }
    )
    assert drug.ingredients == ("fluoxetine", "olanzapine")
    assert drug.classes == {"antipsychotic", "ssri"}


# ---- mapping files -------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_mapping_file_maps_ndc_and_roles(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'source = "site formulary"\n'
        "[medications]\n"
        '"http://hl7.org/fhir/sid/ndc|12496-1208-1" = ["buprenorphine", "naloxone"]\n'
        "[prescriber_roles.practitioners]\n"
        '"http://hl7.org/fhir/sid/us-npi|1234567893" = "addiction"\n'
        "[prescriber_roles.departments]\n"
        '"Location/bh" = "psychiatric"\n',
    )
    found = load_mapping_files([str(path)])
    assert found.medications == {
        "http://hl7.org/fhir/sid/ndc|12496-1208-1": ("buprenorphine", "naloxone")
    }
    assert found.practitioners == {
        "http://hl7.org/fhir/sid/us-npi|1234567893": PrescriberRole.ADDICTION
    }
    assert found.departments == {"Location/bh": PrescriberRole.PSYCHIATRIC}
    terminology = load_terminology(local_codes=found.medications, origins=found.origins)
    drug = terminology.classify(
        {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "12496-1208-1"}]}
    )
    assert (drug.classes, drug.groups) == ({"buprenorphine"}, {"moud"})


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        ('[medications]\n"no-bar" = ["sertraline"]\n', "medications", "does not match"),
        ('[medications]\n"s|1" = []\n', "medications/s|1", "should be non-empty"),
        (
            '[prescriber_roles.departments]\n"Location/x" = "surgeon"\n',
            "prescriber_roles/departments/Location/x",
            "is not one of",
        ),
        (
            '[prescriber_roles.organizations]\n"Location/x" = "psychiatric"\n',
            "prescriber_roles/organizations",
            "does not match",
        ),
        ("[medications\n", "", "not valid TOML"),
    ],
    ids=["token", "empty-list", "role", "organization-ref", "toml"],
)
def test_bad_mapping_file_names_file_path_problem(
    tmp_path: Path, text: str, path: str, problem: str
) -> None:
    file = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_mapping_files([str(file)])
    assert (info.value.file, info.value.path) == (str(file), path)
    assert problem in info.value.problem


def test_unknown_ingredient_names_the_mapping_file_not_mappings(tmp_path: Path) -> None:
    file = _write(tmp_path, '[medications]\n"urn:local|77" = ["setraline"]\n')
    found = load_mapping_files([str(tmp_path / "*.toml")])
    with pytest.raises(ConfigError) as info:
        load_terminology(local_codes=found.medications, origins=found.origins)
    assert str(info.value) == f"{file}: medications/urn:local|77: unknown ingredient 'setraline'"


def test_mappings_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, '[medications]\n"urn:local|1" = ["sertraline"]\n', "good.toml")
    assert main(["mappings", "validate", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: OK (1 medication codes, 0 prescriber roles)"
    bad = _write(tmp_path, '[medications]\n"urn:local|1" = ["setraline"]\n', "bad.toml")
    assert main(["mappings", "validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"{bad}:2: medications/urn:local|1: unknown ingredient 'setraline'"]


# ---- prescriber roles ----------------------------------------------------------------------


def _role(
    pid: str, prid: str, specialty: tuple[str, str] | None = None, **more: Any
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": prid,
        "practitioner": {"reference": f"Practitioner/{pid}"},
        **more,
    }
    if specialty:
        resource["specialty"] = [{"coding": [{"system": specialty[0], "code": specialty[1]}]}]
    return resource


def test_roles_from_specialty_under_both_nucc_uris_and_from_mappings(tmp_path: Path) -> None:
    mappings = load_mapping_files(
        [
            str(
                _write(
                    tmp_path,
                    "[prescriber_roles.practitioners]\n"
                    '"http://hl7.org/fhir/sid/us-npi|1234567893" = "addiction"\n'
                    '"Practitioner/no-resource" = "psychiatric"\n'
                    "[prescriber_roles.departments]\n"
                    '"Location/bh" = "psychiatric"\n'
                    "[prescriber_roles.organizations]\n"
                    '"Organization/fqhc" = "primary-care"\n',
                )
            )
        ]
    )
    table = load_role_table(mappings=mappings)
    roles = [
        _role("a", "r-a", (NUCC, "2084P0800X")),  # psychiatry, preferred URI
        _role("b", "r-b", (NUCC_OLD, "207QA0401X")),  # addiction (family medicine), older URI
        _role("c", "r-c", location=[{"reference": "Location/bh"}]),  # department mapping
        _role("d", "r-d", organization={"reference": "Organization/fqhc"}),  # organization
        _role("e", "r-e", (NUCC, "207Q00000X")),  # family medicine, but mapped by NPI below
        _role("f", "r-f"),  # nothing known
    ]
    practitioners = [
        {
            "resourceType": "Practitioner",
            "id": "e",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        }
    ]
    found = prescribers_from(roles, practitioners, table)
    assert {ref: p.role.value for ref, p in found.items() if ref.startswith("Practitioner/")} == {
        "Practitioner/a": "psychiatric",
        "Practitioner/b": "addiction",
        "Practitioner/c": "psychiatric",
        "Practitioner/d": "primary-care",
        "Practitioner/e": "addiction",  # the site's explicit mapping wins over the specialty
        "Practitioner/f": "other",
        "Practitioner/no-resource": "psychiatric",
    }
    # Orders may name the PractitionerRole as requester: it carries the same role.
    assert found["PractitionerRole/r-b"].role is PrescriberRole.ADDICTION


def test_the_most_specific_role_wins_across_practitioner_roles() -> None:
    table = load_role_table()
    found = prescribers_from(
        [_role("a", "r1", (NUCC, "207Q00000X")), _role("a", "r2", (NUCC, "2084P0802X"))], [], table
    )
    assert found["Practitioner/a"].role is PrescriberRole.ADDICTION


# ---- rule configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        (
            "[analysis.rules.duplicate-therapy]\nmin_overlap_days = 0\n",
            "analysis/rules/duplicate-therapy/min_overlap_days",
            "0 is less than the minimum of 1",
        ),
        (
            '[analysis.rules.duplicate-therapy]\nclasses = ["antipsychotics"]\n',
            "analysis/rules/duplicate-therapy/classes/0",
            "'antipsychotics' is not one of",
        ),
        (
            "[analysis.rules.naltrexone-opioid]\nwashout_days = 10\n",
            "analysis/rules/naltrexone-opioid",
            "Additional properties are not allowed ('washout_days' was unexpected)",
        ),
        (
            "[analysis.rules.opioid-benzo]\nlookback_days = 30\n",
            "analysis/rules",
            "'opioid-benzo' is not one of",
        ),
        (
            '[analysis.suppression]\nexempt_rules = ["phq9"]\n',
            "analysis/suppression/exempt_rules",
            "unknown rule 'phq9'",
        ),
    ],
    ids=["minimum", "class", "unknown-parameter", "unknown-rule", "exempt-rule"],
)
def test_bad_rule_configuration(tmp_path: Path, text: str, path: str, problem: str) -> None:
    file = _write(tmp_path, text, "fhirbridge.toml")
    with pytest.raises(ConfigError) as info:
        load_settings(file, environ={})
    assert (info.value.file, info.value.path) == (str(file), path)
    assert problem in info.value.problem


def test_rule_configuration_reaches_the_rules(tmp_path: Path) -> None:
    file = _write(
        tmp_path,
        "[analysis.rules.multiple-prescribers]\nrequire_both = true\nwindow_days = 90\n"
        '[analysis.rules.oud-untreated]\nicd10cm_prefixes = ["F11.2"]\n'
        '[analysis.suppression]\nexempt_rules = ["methadone-qt"]\n',
        "fhirbridge.toml",
    )
    analysis = load_settings(file, environ={}).analysis
    assert (
        analysis.multiple_prescribers.require_both,
        analysis.multiple_prescribers.window_days,
    ) == (
        True,
        90,
    )
    assert analysis.oud_untreated.icd10cm_prefixes == ("F11.2",)
    assert analysis.suppression.exempt_rules == frozenset({"methadone-qt"})


def test_bad_rule_configuration_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _write(tmp_path, "[analysis.rules.methadone-qt]\nhigh_ms = 900\n", "fhirbridge.toml")
    assert main(["analyze", "--config", str(file), "--db", f"sqlite:///{tmp_path / 'db'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"fhirbridge: error: {file}: analysis/rules/methadone-qt/high_ms: "
        "900 is greater than the maximum of 800"
    ]


def test_example_configuration_states_the_defaults() -> None:
    # config/fhirbridge.example.toml documents every reconciliation rule's parameters: the
    # values written there are the defaults, so the file cannot drift from the code.
    example = Path(__file__).resolve().parents[2] / "config" / "fhirbridge.example.toml"
    configured = load_settings(example, environ={}).analysis
    defaults = AnalysisParams()
    for rule, (attr, _) in RULE_PARAMS.items():
        assert getattr(configured, attr) == getattr(defaults, attr), rule
    assert configured.suppression == defaults.suppression
    text = example.read_text(encoding="utf-8")
    assert all(f"[analysis.rules.{rule}]" in text for rule in RULE_PARAMS)
