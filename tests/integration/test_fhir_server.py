"""The test FHIR server (tests/fhir_server/) behaves like an EHR's, over real HTTP.

These tests pin the behaviour the other integration tests rely on, including every gap that
server.mjs closes on top of Medplum's router (shared/reference/test-fhir-server.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.fhir_server

FHIR_JSON = "application/fhir+json"
SYNTHEA_DIR = Path("/work/shared/data/synthea/smart-generated-sample-data-r4")
LOINC = "http://loinc.org"
PHQ9_TOTAL = "44261-6"
ID_SYSTEM = "urn:test:fhir-server"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update({"Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
        yield session


def patient(value: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": ID_SYSTEM, "value": value}]}


def flag(status: str, subject: str, identifier: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Flag",
        "status": status,
        "code": {"text": "test flag"},
        "subject": {"reference": subject},
    }
    if identifier is not None:
        resource["identifier"] = [{"system": ID_SYSTEM, "value": identifier}]
    return resource


def observation(subject: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "valueInteger": 7,
    }


def create(http: requests.Session, base: str, resource: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"{base}/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def search_ids(http: requests.Session, url: str) -> list[str]:
    response = http.get(url)
    assert response.status_code == 200, response.text
    return [entry["resource"]["id"] for entry in response.json().get("entry", [])]


def test_metadata_is_an_r4_capability_statement(http: requests.Session, fhir_base_url: str) -> None:
    response = http.get(f"{fhir_base_url}/metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    types = {resource["type"] for resource in statement["rest"][0]["resource"]}
    assert {"Patient", "Flag", "Observation", "MedicationRequest"} <= types


def test_create_then_read(http: requests.Session, fhir_base_url: str) -> None:
    response = http.post(f"{fhir_base_url}/Patient", json=patient("p1"))
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    created = response.json()
    version = created["meta"]["versionId"]
    assert response.headers["ETag"] == f'W/"{version}"'
    assert response.headers["Location"] == (
        f"{fhir_base_url}/Patient/{created['id']}/_history/{version}"
    )

    read = http.get(f"{fhir_base_url}/Patient/{created['id']}")
    assert read.status_code == 200
    assert read.headers["ETag"] == f'W/"{version}"'
    assert read.json()["identifier"] == patient("p1")["identifier"]


def test_invalid_required_code_is_rejected_naming_the_element(
    http: requests.Session, fhir_base_url: str
) -> None:
    response = http.post(f"{fhir_base_url}/Flag", json=flag("nope", "Patient/x"))
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Flag.status"]
    assert search_ids(http, f"{fhir_base_url}/Flag") == []


MED = {"text": "buprenorphine"}
MED_REQUEST = {
    "resourceType": "MedicationRequest",
    "medicationCodeableConcept": MED,
    "subject": {"reference": "Patient/x"},
}
# (resource lacking the coded element, element name, its path in the OperationOutcome, a valid code)
REQUIRED_CODES = [
    ({**MED_REQUEST, "intent": "order"}, "status", "MedicationRequest.status", "active"),
    ({**MED_REQUEST, "status": "active"}, "intent", "MedicationRequest.intent", "order"),
    (
        {"resourceType": "MedicationDispense", "medicationCodeableConcept": MED},
        "status",
        "MedicationDispense.status",
        "completed",
    ),
    (
        {"resourceType": "DetectedIssue", "status": "final"},
        "severity",
        "DetectedIssue.severity",
        "high",
    ),
    ({"resourceType": "Communication"}, "status", "Communication.status", "completed"),
    (
        {"resourceType": "Observation", "code": {"text": "PHQ-9"}},
        "status",
        "Observation.status",
        "final",
    ),
]


@pytest.mark.parametrize(("base", "field", "element", "good"), REQUIRED_CODES)
def test_required_binding_codes_are_checked(
    http: requests.Session,
    fhir_base_url: str,
    base: dict[str, Any],
    field: str,
    element: str,
    good: str,
) -> None:
    url = f"{fhir_base_url}/{base['resourceType']}"
    bad = http.post(url, json={**base, field: "nope"})
    assert bad.status_code == 400, bad.text
    assert bad.json()["issue"][0]["expression"] == [element]
    assert http.post(url, json={**base, field: good}).status_code == 201


def test_required_code_in_a_nested_element_is_checked(
    http: requests.Session, fhir_base_url: str
) -> None:
    care_plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/x"},
        "activity": [{"detail": {"status": "nope"}}],
    }
    bad = http.post(f"{fhir_base_url}/CarePlan", json=care_plan)
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["CarePlan.activity[0].detail.status"]
    care_plan["activity"][0]["detail"]["status"] = "scheduled"
    assert http.post(f"{fhir_base_url}/CarePlan", json=care_plan).status_code == 201


def test_structurally_invalid_resource_is_rejected(
    http: requests.Session, fhir_base_url: str
) -> None:
    bad: dict[str, Any] = {
        "resourceType": "Flag",
        "code": {"text": "no status, no subject"},
        "bogus": 1,
    }
    response = http.post(f"{fhir_base_url}/Flag", json=bad)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_conditional_create_returns_the_existing_resource(
    http: requests.Session, fhir_base_url: str
) -> None:
    headers = {"If-None-Exist": f"identifier={ID_SYSTEM}|cc-1"}
    first = http.post(f"{fhir_base_url}/Patient", json=patient("cc-1"), headers=headers)
    second = http.post(f"{fhir_base_url}/Patient", json=patient("cc-1"), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert len(search_ids(http, f"{fhir_base_url}/Patient?identifier={ID_SYSTEM}|cc-1")) == 1


def test_conditional_update_by_identifier(http: requests.Session, fhir_base_url: str) -> None:
    url = f"{fhir_base_url}/Flag?identifier={ID_SYSTEM}|flag-1"
    first = http.put(url, json=flag("active", "Patient/x", identifier="flag-1"))
    second = http.put(url, json=flag("inactive", "Patient/x", identifier="flag-1"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    stored = http.get(f"{fhir_base_url}/Flag/{first.json()['id']}").json()
    assert stored["status"] == "inactive"


def test_stale_if_match_is_a_precondition_failure(
    http: requests.Session, fhir_base_url: str
) -> None:
    created = create(http, fhir_base_url, flag("active", "Patient/x"))
    url = f"{fhir_base_url}/Flag/{created['id']}"
    stale = f'W/"{created["meta"]["versionId"]}"'
    updated = http.put(url, json={**created, "status": "inactive"}, headers={"If-Match": stale})
    assert updated.status_code == 200
    assert updated.headers["ETag"] != stale
    again = http.put(url, json={**created, "status": "active"}, headers={"If-Match": stale})
    assert again.status_code == 412
    assert http.get(url).json()["status"] == "inactive"


def test_delete(http: requests.Session, fhir_base_url: str) -> None:
    created = create(http, fhir_base_url, patient("del-1"))
    url = f"{fhir_base_url}/Patient/{created['id']}"
    assert http.delete(url).status_code == 200
    assert http.get(url).status_code == 404


def test_transaction_rewrites_urn_uuid_references(
    http: requests.Session, fhir_base_url: str
) -> None:
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_urn,
                "resource": patient("tx-1"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": observation(patient_urn, PHQ9_TOTAL),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = http.post(f"{fhir_base_url}/", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in result["entry"]] == ["201", "201"]
    patient_id = result["entry"][0]["resource"]["id"]
    assert result["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    found = search_ids(http, f"{fhir_base_url}/Observation?subject=Patient/{patient_id}")
    assert found == [result["entry"][1]["resource"]["id"]]


def test_failed_transaction_persists_nothing(http: requests.Session, fhir_base_url: str) -> None:
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_urn,
                "resource": patient("tx-bad"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": flag("active", patient_urn), "request": {"method": "POST", "url": "Flag"}},
            {"resource": flag("nope", patient_urn), "request": {"method": "POST", "url": "Flag"}},
        ],
    }
    response = http.post(f"{fhir_base_url}/", json=bundle)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert search_ids(http, f"{fhir_base_url}/Patient?identifier={ID_SYSTEM}|tx-bad") == []
    assert search_ids(http, f"{fhir_base_url}/Flag") == []


def test_search_pages_with_next_links(http: requests.Session, fhir_base_url: str) -> None:
    created = {create(http, fhir_base_url, patient(f"page-{i}"))["id"] for i in range(45)}

    url: str | None = f"{fhir_base_url}/Patient?_count=20"
    seen: list[str] = []
    pages = 0
    while url is not None:
        assert url.startswith(f"{fhir_base_url}/Patient?")
        bundle = http.get(url).json()
        assert bundle["total"] == 45
        seen += [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        pages += 1
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert pages == 3
    assert len(seen) == 45
    assert set(seen) == created


def test_search_without_count_is_paged_too(http: requests.Session, fhir_base_url: str) -> None:
    for i in range(25):
        create(http, fhir_base_url, patient(f"default-{i}"))
    bundle = http.get(f"{fhir_base_url}/Patient").json()
    assert len(bundle["entry"]) == 20
    assert any(link["relation"] == "next" for link in bundle["link"])
    assert all(e["fullUrl"].startswith(f"{fhir_base_url}/Patient/") for e in bundle["entry"])


def test_observation_search_by_patient_and_code(http: requests.Session, fhir_base_url: str) -> None:
    alice = create(http, fhir_base_url, patient("alice"))["id"]
    bob = create(http, fhir_base_url, patient("bob"))["id"]
    wanted = create(http, fhir_base_url, observation(f"Patient/{alice}", PHQ9_TOTAL))["id"]
    create(http, fhir_base_url, observation(f"Patient/{alice}", "8302-2"))
    create(http, fhir_base_url, observation(f"Patient/{bob}", PHQ9_TOTAL))

    url = f"{fhir_base_url}/Observation?patient={alice}&code={LOINC}|{PHQ9_TOTAL}"
    assert search_ids(http, url) == [wanted]


def test_unknown_names_are_errors_not_empty_results(
    http: requests.Session, fhir_base_url: str
) -> None:
    # R4 spells it `authoredon`; an EHR rejects `authored` instead of matching nothing.
    wrong = http.get(f"{fhir_base_url}/MedicationRequest?authored=ge2020-01-01")
    assert wrong.status_code == 400
    assert "authored" in wrong.json()["issue"][0]["details"]["text"]
    right = http.get(f"{fhir_base_url}/MedicationRequest?authoredon=ge2020-01-01&_sort=-authoredon")
    assert right.status_code == 200
    assert http.get(f"{fhir_base_url}/NoSuchType?_id=1").status_code == 404


def test_synthea_bundle_loads_as_a_transaction(http: requests.Session, fhir_base_url: str) -> None:
    if not SYNTHEA_DIR.is_dir():
        pytest.skip(f"Synthea sample data not found at {SYNTHEA_DIR}")
    files = [p for p in SYNTHEA_DIR.glob("*.json") if p.name != "manifest.json"]
    if not files:
        pytest.skip(f"no Synthea bundles in {SYNTHEA_DIR}")
    smallest = min(files, key=lambda p: p.stat().st_size)
    bundle = json.loads(smallest.read_bytes())

    response = http.post(f"{fhir_base_url}/", data=smallest.read_bytes())
    assert response.status_code == 200, response.text[:2000]
    result = response.json()
    assert len(result["entry"]) == len(bundle["entry"])
    assert all(e["response"]["status"].startswith("201") for e in result["entry"])

    resources = [entry["resource"] for entry in bundle["entry"]]
    source = next(r for r in resources if r["resourceType"] == "Patient")
    system, value = source["identifier"][0]["system"], source["identifier"][0]["value"]
    found = search_ids(http, f"{fhir_base_url}/Patient?identifier={system}|{value}")
    assert len(found) == 1
    observations = http.get(f"{fhir_base_url}/Observation?patient={found[0]}&_count=1").json()
    expected = sum(1 for r in resources if r["resourceType"] == "Observation")
    assert observations["total"] == expected
