"""Operator API: roles, audit of patient-data access, the endpoints on a store filled by a run
of the example data, and schemathesis against the OpenAPI document (no 500, schema kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings

from fhirbridge.api import create_app
from fhirbridge.api.tokens import hash_token
from fhirbridge.bootstrap import build_services
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.settings import Settings
from fhirbridge.store import admin
from fhirbridge.workflow import run_all
from tests.example_expectations import expected_adherence

TOKENS = {
    "operator": "op-secret-token",
    "integrator": "int-secret-token",
    "read-only": "ro-secret-token",
}


def _bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root = tmp_path_factory.mktemp("operator")
    tokens = root / "tokens.toml"
    tokens.write_text(
        "".join(
            f'[[tokens]]\nname = "{role}-1"\nrole = "{role}"\nsha256 = "{hash_token(secret)}"\n'
            for role, secret in TOKENS.items()
        )
    )
    services = build_services(
        Settings(api_tokens_file=str(tokens)), database_url=f"sqlite:///{root / 'db'}"
    )
    run_all(services, source=None, as_of=REFERENCE_DATE, out=root / "out", target="bundle-file")
    yield create_app(services=services, today=lambda: REFERENCE_DATE)
    services.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_tokens_and_roles(client: FlaskClient) -> None:
    assert client.get("/api/v1/runs").status_code == 401
    assert client.get("/api/v1/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/runs", headers=_bearer("read-only")).status_code == 200
    assert client.get("/api/v1/ledger", headers=_bearer("read-only")).status_code == 403
    assert (
        client.get("/api/v1/patients/ex-pt-03/findings", headers=_bearer("integrator")).status_code
        == 403
    )
    assert client.get("/api/v1/dead-letters", headers=_bearer("integrator")).status_code == 200


def test_patient_findings_and_every_access_is_audited(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/patients/ex-pt-03/findings", headers=_bearer("read-only"))
    assert response.status_code == 200
    [finding] = response.json["findings"]
    assert (finding["rule"], finding["severity"], finding["status"]) == (
        "opioid-benzodiazepine",
        "moderate",
        "open",
    )
    client.get("/api/v1/patients/ex-pt-03/findings", headers=_bearer("integrator"))  # refused: 403
    engine = app.extensions["fhirbridge"].services.store.engine
    rows = [
        (a.token_name, a.route, a.patient, a.status)
        for a in admin.accesses(engine, "Patient/ex-pt-03")
    ]
    assert rows[-2:] == [
        ("read-only-1", "/api/v1/patients/<pid>/findings", "Patient/ex-pt-03", 200),
        ("integrator-1", "/api/v1/patients/<pid>/findings", "Patient/ex-pt-03", 403),
    ]


def test_patient_adherence_matches_the_run(client: FlaskClient) -> None:
    response = client.get(
        "/api/v1/patients/ex-pt-02/adherence?as_of=2026-06-30", headers=_bearer("operator")
    )
    assert response.json["adherence"] == [
        a for a in expected_adherence() if a["patient"] == "Patient/ex-pt-02"
    ]
    bad = client.get("/api/v1/patients/ex-pt-02/adherence?as_of=June", headers=_bearer("operator"))
    assert (bad.status_code, bad.json["issue"][0]["details"]["text"]) == (
        400,
        "as_of must be a date YYYY-MM-DD",
    )


def test_dead_letters_without_bodies_and_retry(client: FlaskClient) -> None:
    [letter] = client.get("/api/v1/dead-letters", headers=_bearer("operator")).json["dead_letters"]
    assert (letter["resource_id"], letter["reason"]) == ("ex-mr-27-2", "medication[x]: missing")
    assert "body" not in letter
    retried = client.post(f"/api/v1/dead-letters/{letter['id']}/retry", headers=_bearer("operator"))
    assert retried.json == {
        "id": letter["id"],
        "outcome": "still-unusable",
        "reason": "dead letter: medication[x]: missing",
    }
    assert (
        client.post("/api/v1/dead-letters/999999/retry", headers=_bearer("operator")).status_code
        == 404
    )


def test_runs_and_bad_input(client: FlaskClient) -> None:
    runs = client.get("/api/v1/runs", headers=_bearer("operator")).json["runs"]
    assert runs[0]["command"] == "run"
    assert runs[0]["status"] == "ok"
    detail = client.get(f"/api/v1/runs/{runs[0]['id']}", headers=_bearer("operator")).json
    assert detail["report"]["patients_analyzed"] == 28  # the example data's patients
    assert client.get("/api/v1/runs/424242", headers=_bearer("operator")).status_code == 404
    bad: list[tuple[Any, str]] = [
        (
            {"source": "/etc/passwd"},
            "source must be a FHIR base URL (files are run from the command line)",
        ),
        ({"target": "elsewhere"}, "target must be one of bundle-file, fhir-full, none"),
        ({"as_of": "soon"}, "as_of must be a date YYYY-MM-DD"),
        ({"extra": 1}, "unknown field 'extra'"),
        ([1, 2], "the body must be a JSON object"),
    ]
    for body, message in bad:
        response = client.post("/api/v1/runs", json=body, headers=_bearer("operator"))
        assert (response.status_code, response.json["issue"][0]["details"]["text"]) == (
            400,
            message,
        )
    assert (
        client.get("/api/v1/patients/bad%20id/findings", headers=_bearer("operator")).status_code
        == 400
    )


ROLE = {"current": "read-only"}  # which role's token schemathesis sends (set per test)


@schemathesis.auth()
class RoleToken:
    """Tells schemathesis how this API authenticates, so it sends the token itself."""

    def get(self, case: Any, context: Any) -> str:
        return TOKENS[ROLE["current"]]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.mark.parametrize("role", ["read-only", "operator"])
def test_schemathesis_finds_no_500_and_no_schema_violation(app: Flask, role: str) -> None:
    # Every operation with generated input (schemathesis' checks: no 5xx, responses match the
    # document, invalid input rejected). POST operations only as read-only, where they answer
    # 403: an operator's generated run would try to reach the generated URL. Driven through
    # hypothesis directly rather than schemathesis' pytest plugin, which depends on pytest
    # internals that change between pytest releases.
    ROLE["current"] = role
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if role == "operator" and operation.method.upper() == "POST":
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def check(case: Any) -> None:
            case.call_and_validate()

        tried += 1
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup;
            # collected, so one run reports every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert tried >= 6  # every GET at least; POSTs too as read-only
    assert failures == []


def test_serve_publishes_the_smart_client_public_keys(tmp_path: Path) -> None:
    from fhirbridge.settings import Connection
    from fhirbridge.sync.keys import write_key_pair

    private, _, kid = write_key_pair(tmp_path, "ES384")
    settings = Settings(
        connections=(
            Connection(
                name="ehr",
                base_url="https://ehr.example.org/fhir",
                auth="smart-backend",
                client_id="fhirbridge",
                private_key_file=str(private),
            ),
        )
    )
    services = build_services(settings, database_url="sqlite://")
    response = create_app(services=services).test_client().get("/.well-known/jwks.json")
    services.close()
    [jwk] = response.json["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["kty"]) == (kid, "ES384", "EC")
    assert "d" not in jwk  # the public half only


def test_acknowledging_a_finding_suppresses_it_in_the_next_run(
    app: Flask, client: FlaskClient
) -> None:
    [finding] = client.get("/api/v1/patients/ex-pt-03/findings", headers=_bearer("operator")).json[
        "findings"
    ]
    url = f"/api/v1/findings/{finding['key']}/acknowledge"
    refused = client.post(url, json={"reason": "coordinated"}, headers=_bearer("read-only"))
    assert refused.status_code == 403
    bad = client.post(url, json={"reason": "  "}, headers=_bearer("operator"))
    assert (bad.status_code, bad.json["issue"][0]["details"]["text"]) == (
        400,
        "reason is required (up to 500 characters)",
    )
    done = client.post(
        url,
        json={"reason": "taper plan agreed by both prescribers", "kind": "acknowledged"},
        headers=_bearer("operator"),
    )
    assert (done.status_code, done.json) == (
        201,
        {"key": finding["key"], "kind": "acknowledged", "patient": "Patient/ex-pt-03"},
    )
    # The next analysis holds it back (its prescriptions and evidence are unchanged).
    services = app.extensions["fhirbridge"].services
    result = services.analyze(REFERENCE_DATE, None)
    assert finding["key"] not in {f.key for f in result.findings}
    engine = services.store.engine
    assert (
        admin.accesses(engine, "Patient/ex-pt-03")[-1].route == "/api/v1/findings/<key>/acknowledge"
    )
