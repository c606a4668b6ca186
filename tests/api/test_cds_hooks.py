"""CDS Hooks 2.0 service: discovery, patient-view and order-sign cards for the constructed
patients, prefetch or fetched from the real FHIR server, and every bad request refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from fhirbridge.api import create_app
from fhirbridge.bootstrap import build_services
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.settings import CdsClientSetting, Settings
from tests.api.cds_client import EhrKeys, example_prefetch, hook_request, serve_json

BASE = "http://localhost"
PATIENT_VIEW = f"{BASE}/cds-services/fhirbridge-patient-view"
ORDER_SIGN = f"{BASE}/cds-services/fhirbridge-order-sign"
ALPRAZOLAM_DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "draft-alp",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "Alprazolam 0.5 MG Oral Tablet"},
    "requester": {"reference": "Practitioner/ex-prac-psy"},
    "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}},
}


@pytest.fixture(scope="module")
def keys() -> EhrKeys:
    return EhrKeys()


@pytest.fixture
def client(keys: EhrKeys, tmp_path: Path) -> Iterator[FlaskClient]:
    with serve_json(keys.jwks) as jwks_url:
        settings = Settings(
            cds_clients=(CdsClientSetting(issuer="https://ehr.example.org", jwks_url=jwks_url),)
        )
        services = build_services(settings, database_url=f"sqlite:///{tmp_path / 'api.db'}")
        app = create_app(services=services, today=lambda: REFERENCE_DATE)
        yield app.test_client()
        services.close()


def _call(client: FlaskClient, keys: EhrKeys, url: str, body: Any, **token: Any) -> Any:
    return client.post(
        url, json=body, headers={"Authorization": f"Bearer {keys.token(url, **token)}"}
    )


def test_discovery_lists_both_services_with_prefetch(client: FlaskClient) -> None:
    services = client.get("/cds-services").json["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("fhirbridge-patient-view", "patient-view"),
        ("fhirbridge-order-sign", "order-sign"),
    ]
    assert (
        services[0]["prefetch"]["medicationDispenses"]
        == "MedicationDispense?patient={{context.patientId}}"
    )


def test_patient_view_card_for_moud_and_benzodiazepine(client: FlaskClient, keys: EhrKeys) -> None:
    # Example patient 3: buprenorphine/naloxone (addiction) overlapping alprazolam (psychiatry).
    body = hook_request("patient-view", "ex-pt-03", prefetch=example_prefetch("ex-pt-03"))
    response = _call(client, keys, PATIENT_VIEW, body)
    assert response.status_code == 200
    [card] = [
        c for c in response.json["cards"] if c["source"]["topic"]["code"] == "opioid-benzodiazepine"
    ]
    assert card["indicator"] == "warning"
    assert (
        card["summary"]
        == "MOUD (buprenorphine) overlaps alprazolam: coordinate care; do not stop MOUD"
    )
    assert len(card["summary"]) < 140
    assert card["source"]["topic"] == {
        "system": "urn:fhirbridge:rule",
        "code": "opioid-benzodiazepine",
        "display": "opioid-benzodiazepine",
    }
    assert all(reason["display"] for reason in card["overrideReasons"])
    assert "should **not be withheld**" in card["detail"]


def test_patient_view_without_findings_returns_no_cards(client: FlaskClient, keys: EhrKeys) -> None:
    body = hook_request("patient-view", "ex-pt-25", prefetch=example_prefetch("ex-pt-25"))
    response = _call(client, keys, PATIENT_VIEW, body)
    assert (response.status_code, response.json) == (200, {"cards": []})


def test_order_sign_benzodiazepine_for_patient_on_buprenorphine_warns(
    client: FlaskClient, keys: EhrKeys
) -> None:
    # Example patient 1: buprenorphine/naloxone every 28 days from an addiction prescriber.
    # The psychiatrist signs alprazolam today: a warning with coordination advice, not "stop".
    draft = {**ALPRAZOLAM_DRAFT, "subject": {"reference": "Patient/ex-pt-01"}}
    body = hook_request("order-sign", "ex-pt-01", prefetch=example_prefetch("ex-pt-01"))
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft}],
    }
    response = _call(client, keys, ORDER_SIGN, body)
    assert response.status_code == 200
    [card] = response.json["cards"]
    assert (card["indicator"], card["source"]["topic"]["code"]) == (
        "warning",
        "opioid-benzodiazepine",
    )
    assert "coordinate" in card["summary"]


def test_order_sign_only_answers_for_the_draft(client: FlaskClient, keys: EhrKeys) -> None:
    # Patient 3 already has an opioid-benzodiazepine finding; signing sertraline adds nothing.
    draft = {
        **ALPRAZOLAM_DRAFT,
        "medicationCodeableConcept": {"text": "Sertraline 50 MG Oral Tablet"},
    }
    body = hook_request("order-sign", "ex-pt-03", prefetch=example_prefetch("ex-pt-03"))
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft}],
    }
    assert _call(client, keys, ORDER_SIGN, body).json == {"cards": []}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ({"exp_in": -600}, "JWT expired"),
        ({"iss": "https://stranger.example.org"}, "issuer is not an allowed CDS client"),
    ],
)
def test_bad_jwts_get_401(
    client: FlaskClient, keys: EhrKeys, token: dict[str, Any], message: str
) -> None:
    response = _call(client, keys, PATIENT_VIEW, hook_request("patient-view", "ex-pt-25"), **token)
    assert response.status_code == 401
    assert response.json["issue"][0]["details"]["text"] == message


def test_wrong_key_wrong_aud_replay_and_no_token_get_401(
    client: FlaskClient, keys: EhrKeys
) -> None:
    body = hook_request("patient-view", "ex-pt-25", prefetch=example_prefetch("ex-pt-25"))
    other = EhrKeys(kid=keys.kid)  # same kid, different key: the signature cannot verify
    cases = [
        (
            {"Authorization": f"Bearer {other.token(PATIENT_VIEW)}"},
            "JWT signature or claims invalid",
        ),
        (
            {"Authorization": f"Bearer {keys.token(ORDER_SIGN)}"},
            "JWT aud is not this service's URL",
        ),
        ({}, "missing bearer JWT"),
        ({"Authorization": "Bearer not.a.jwt"}, "malformed JWT"),
    ]
    for headers, message in cases:
        response = client.post(PATIENT_VIEW, json=body, headers=headers)
        assert (response.status_code, response.json["issue"][0]["details"]["text"]) == (
            401,
            message,
        )
    token = keys.token(PATIENT_VIEW, jti="once")
    first = client.post(PATIENT_VIEW, json=body, headers={"Authorization": f"Bearer {token}"})
    again = client.post(PATIENT_VIEW, json=body, headers={"Authorization": f"Bearer {token}"})
    assert (first.status_code, again.status_code) == (200, 401)
    assert again.json["issue"][0]["details"]["text"] == "JWT jti was already used"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "the request body must be a JSON object (a CDS Hooks request)"),
        (
            {"hook": "order-select", "hookInstance": "x", "context": {"patientId": "p"}},
            400,
            "hook must be 'patient-view' for this service",
        ),
        (
            {"hook": "patient-view", "hookInstance": "x", "context": {}},
            400,
            "context.patientId is required",
        ),
        ({"hook": "patient-view", "context": {"patientId": "p"}}, 400, "hookInstance is required"),
        (
            {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"}},
            412,
            "prefetch lacks medicationRequests, medicationDispenses, medicationStatements, "
            "observations, conditions and the request has no fhirServer",
        ),
    ],
)
def test_malformed_requests_get_4xx_never_500(
    client: FlaskClient, keys: EhrKeys, body: Any, status: int, message: str
) -> None:
    headers = {
        "Authorization": f"Bearer {keys.token(PATIENT_VIEW)}",
        "Content-Type": "application/json",
    }
    payload = body if isinstance(body, str) else None
    response = client.post(
        PATIENT_VIEW, data=payload, json=None if payload else body, headers=headers
    )
    assert response.status_code == status
    assert response.json["resourceType"] == "OperationOutcome"
    assert response.json["issue"][0]["details"]["text"] == message


def test_unknown_service_is_404(client: FlaskClient, keys: EhrKeys) -> None:
    url = f"{BASE}/cds-services/nope"
    assert _call(client, keys, url, {}).status_code == 404


@pytest.mark.fhir_server
def test_spec_example_request_without_prefetch_reads_the_fhir_server(
    client: FlaskClient, keys: EhrKeys, fhir_base_url: str
) -> None:
    # The CDS Hooks 2.0 specification's example request (hookInstance, fhirAuthorization,
    # context), pointed at the real test server that holds the example patients, with no
    # prefetch: the service reads the data itself and answers as it would with prefetch.
    from tests.fhir_loading import load_examples

    load_examples(fhir_base_url)
    body = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": fhir_base_url,
        "hook": "patient-view",
        "fhirAuthorization": {
            "access_token": "some-opaque-fhir-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read",
            "subject": "cds-service4",
        },
        "context": {"userId": "Practitioner/example", "patientId": "ex-pt-03"},
    }
    fetched = _call(client, keys, PATIENT_VIEW, body)
    assert fetched.status_code == 200
    with_prefetch = _call(
        client, keys, PATIENT_VIEW, {**body, "prefetch": example_prefetch("ex-pt-03")}
    )
    assert fetched.json == with_prefetch.json
    assert [c["source"]["topic"]["code"] for c in fetched.json["cards"]].count(
        "opioid-benzodiazepine"
    ) == 1


@pytest.mark.fhir_server
def test_unknown_patient_on_the_fhir_server_gives_no_cards(
    client: FlaskClient, keys: EhrKeys, fhir_base_url: str
) -> None:
    body = hook_request("patient-view", "no-such-patient", fhirServer=fhir_base_url)
    response = _call(client, keys, PATIENT_VIEW, body)
    # Searches by an unknown patient find nothing: no data, no cards (not an error).
    assert (response.status_code, response.json) == (200, {"cards": []})


def test_unreachable_fhir_server_is_412(client: FlaskClient, keys: EhrKeys) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    body = hook_request("patient-view", "ex-pt-03", fhirServer=f"http://127.0.0.1:{port}")
    response = _call(client, keys, PATIENT_VIEW, body)
    assert response.status_code == 412
    assert response.json["issue"][0]["details"]["text"].startswith(
        "could not read the patient's data from fhirServer: GET /MedicationRequest: cannot reach"
    )


def test_feedback_is_stored_once_per_card_and_timestamp(client: FlaskClient, keys: EhrKeys) -> None:
    from fhirbridge.api.context import ApiContext
    from fhirbridge.store.feedback import feedback_for

    body = hook_request("patient-view", "ex-pt-03", prefetch=example_prefetch("ex-pt-03"))
    [card] = [
        c
        for c in _call(client, keys, PATIENT_VIEW, body).json["cards"]
        if c["source"]["topic"]["code"] == "opioid-benzodiazepine"
    ]
    url = f"{PATIENT_VIEW}/feedback"
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-06-30T10:00:00Z",
                "overrideReason": {
                    "reason": card["overrideReasons"][0],
                    "userComment": "free text",
                },
            }
        ]
    }
    assert _call(client, keys, url, feedback).status_code == 200
    assert _call(client, keys, url, feedback).status_code == 200  # an EHR retry: kept once
    context: ApiContext = client.application.extensions["fhirbridge"]
    [row] = feedback_for(context.services.store.engine)
    # The card uuid is the finding key written as a UUID: feedback names its finding.
    assert row.finding_key == card["uuid"].replace("-", "")
    assert (row.outcome, row.override_reason) == (
        "overridden",
        "urn:fhirbridge:override-reason|coordinated",
    )
    bad = {"feedback": [{"card": card["uuid"], "outcome": "maybe", "outcomeTimestamp": "x"}]}
    response = _call(client, keys, url, bad)
    assert (response.status_code, response.json["issue"][0]["details"]["text"]) == (
        400,
        "feedback[0].outcome must be accepted or overridden",
    )


def test_cards_link_the_smart_patient_page_when_the_app_is_registered(
    keys: EhrKeys, tmp_path: Path
) -> None:
    from fhirbridge.settings import SmartAppSetting

    with serve_json(keys.jwks) as jwks_url:
        settings = Settings(
            cds_clients=(CdsClientSetting(issuer="https://ehr.example.org", jwks_url=jwks_url),),
            smart_app=SmartAppSetting(
                client_id="fhirbridge-page", issuers=("https://ehr.example.org/fhir",)
            ),
        )
        services = build_services(settings, database_url=f"sqlite:///{tmp_path / 'api.db'}")
        client = create_app(services=services, today=lambda: REFERENCE_DATE).test_client()
        body = hook_request("patient-view", "ex-pt-03", prefetch=example_prefetch("ex-pt-03"))
        [card] = _call(client, keys, PATIENT_VIEW, body).json["cards"]
        services.close()
    assert card["links"] == [
        {
            "label": "Medication timeline (fhirbridge)",
            "url": "http://localhost/patient-page/launch",
            "type": "smart",
        }
    ]


def test_order_sign_naltrexone_for_patient_with_opioid_coverage_is_critical(
    client: FlaskClient, keys: EhrKeys
) -> None:
    # Example patient 4: oxycodone from family medicine, current on 2026-06-30. Signing oral
    # naltrexone today would precipitate withdrawal (Vivitrol label): a critical card.
    draft = {
        **ALPRAZOLAM_DRAFT,
        "id": "draft-ntx",
        "medicationCodeableConcept": {"text": "Naltrexone Hydrochloride 50 MG Oral Tablet"},
        "subject": {"reference": "Patient/ex-pt-04"},
    }
    body = hook_request("order-sign", "ex-pt-04", prefetch=example_prefetch("ex-pt-04"))
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft}],
    }
    response = _call(client, keys, ORDER_SIGN, body)
    assert response.status_code == 200
    # The naltrexone would also be MOUD without rescue naloxone on record: a second card, with
    # the naloxone order suggested. Critical cards come first, then by rule.
    assert [(c["indicator"], c["source"]["topic"]["code"]) for c in response.json["cards"]] == [
        ("critical", "naloxone-missing"),
        ("critical", "naltrexone-opioid"),
    ]
    suggestion = response.json["cards"][0]["suggestions"][0]
    assert (
        suggestion["actions"][0]["resource"]["medicationCodeableConcept"]["coding"][0]["code"]
        == "7242"
    )
