"""Operations endpoints: readiness checks the database and every FHIR connection; metrics
carry stored resources, findings, runs, write outcomes and request latencies."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fhirbridge.api import create_app
from fhirbridge.bootstrap import build_services
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.settings import Connection, Settings
from fhirbridge.workflow import run_all


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.fhir_server
def test_ready_checks_each_connection(fhir_base_url: str, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(
        connections=(
            Connection(name="up", base_url=fhir_base_url),
            Connection(name="down", base_url=down, max_retries=0),
        )
    )
    services = build_services(
        settings, database_url=f"sqlite:///{tmp_path / 'db'}", client_retries=0
    )
    response = create_app(services=services).test_client().get("/ready")
    services.close()
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "connection:up": "ok",
            "connection:down": "unavailable (FhirTransientError)",
        },
    }


@pytest.mark.fhir_server
def test_metrics_after_a_written_run(fhir_base_url: str, tmp_path: Path) -> None:
    from tests.fhir_loading import load_examples

    load_examples(fhir_base_url)
    services = build_services(Settings(), database_url=f"sqlite:///{tmp_path / 'db'}")
    run_all(
        services,
        source=fhir_base_url,
        as_of=REFERENCE_DATE,
        out=tmp_path / "out",
        target="fhir-full",
    )
    client = create_app(services=services).test_client()
    client.get("/health")
    text = client.get("/metrics").data.decode()
    services.close()
    assert 'fhirbridge_findings_open{rule="opioid-benzodiazepine"} 2' in text
    assert 'fhirbridge_runs{command="run",status="ok"} 1' in text
    assert 'fhirbridge_writes{type="DetectedIssue",outcome="created"}' in text
    assert 'fhirbridge_request_seconds_count{endpoint="health.health"} 1' in text
