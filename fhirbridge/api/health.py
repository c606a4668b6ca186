"""Entrypoint: liveness, readiness and Prometheus metrics for operators."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import text

from fhirbridge.api.context import api

bp = Blueprint("health", __name__)


class Latency:
    """Request count and total seconds per endpoint, in this process (gunicorn workers each
    keep their own; a scraper sums them per instance)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[int, float]] = {}

    def add(self, endpoint: str, seconds: float) -> None:
        with self._lock:
            count, total = self._data.get(endpoint, (0, 0.0))
            self._data[endpoint] = (count + 1, total + seconds)

    def snapshot(self) -> dict[str, tuple[int, float]]:
        with self._lock:
            return dict(self._data)


LATENCY = Latency()


@bp.before_app_request
def _start_timer() -> None:
    g.started = time.perf_counter()


@bp.after_app_request
def _record_latency(response: Response) -> Response:
    started = g.get("started")
    if started is not None:
        # The endpoint name, never the URL: URLs can carry patient ids.
        LATENCY.add(request.endpoint or "unknown", time.perf_counter() - started)
    return response


def _write_outcomes(engine: Any) -> dict[tuple[str, str], int]:
    from sqlalchemy import func, select
    from sqlmodel import SQLModel

    from fhirbridge.store.tables import WriteAudit

    table = SQLModel.metadata.tables[WriteAudit.__tablename__]
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.resource_type, table.c.outcome, func.count()).group_by(
                table.c.resource_type, table.c.outcome
            )
        )
        return {(t, o): n for t, o, n in rows}


@bp.get("/health")
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Readiness: the database answers, and each configured FHIR connection."""
    checks: dict[str, str] = {}
    try:
        with api().services.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the type is reported
        checks["database"] = f"unavailable ({type(exc).__name__})"
    for connection in api().services.settings.connections:
        # Each EHR's CapabilityStatement, with its auth, once: readiness, not a sync.
        try:
            with api().services.client_for(connection.base_url) as client:
                client.capabilities()
            checks[f"connection:{connection.name}"] = "ok"
        except Exception as exc:  # a FHIR, auth or network failure: not ready; type reported
            checks[f"connection:{connection.name}"] = f"unavailable ({type(exc).__name__})"
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The public keys of the smart-backend connections, for EHRs that register this client
    by JWKS URL (SMART Backend Services: the client publishes its public keys)."""
    from fhirbridge.sync.connections import configured_jwks

    response = jsonify(configured_jwks(api().services.settings))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: runs by status, stored resources by type, open findings by rule."""
    store = api().services.store
    lines = [
        "# HELP fhirbridge_resources_stored Raw resources in the store, by type.",
        "# TYPE fhirbridge_resources_stored gauge",
    ]
    for rtype, count in sorted(store.count_resources().items()):
        lines.append(f'fhirbridge_resources_stored{{type="{rtype}"}} {count}')
    lines += [
        "# HELP fhirbridge_findings_open Open findings, by rule.",
        "# TYPE fhirbridge_findings_open gauge",
    ]
    by_rule: dict[str, int] = {}
    for row in store.findings(status="open"):
        by_rule[row.rule] = by_rule.get(row.rule, 0) + 1
    for rule, count in sorted(by_rule.items()):
        lines.append(f'fhirbridge_findings_open{{rule="{rule}"}} {count}')
    lines += [
        "# HELP fhirbridge_runs Recorded runs, by command and status.",
        "# TYPE fhirbridge_runs gauge",
    ]
    runs: dict[tuple[str, str], int] = {}
    for run in store.runs(limit=1000):
        runs[(run.command, run.status)] = runs.get((run.command, run.status), 0) + 1
    for (command, status), count in sorted(runs.items()):
        lines.append(f'fhirbridge_runs{{command="{command}",status="{status}"}} {count}')
    lines += [
        "# HELP fhirbridge_writes Write-back attempts, by resource type and outcome.",
        "# TYPE fhirbridge_writes gauge",
    ]
    for (rtype, outcome), count in sorted(_write_outcomes(store.engine).items()):
        lines.append(f'fhirbridge_writes{{type="{rtype}",outcome="{outcome}"}} {count}')
    lines += [
        "# HELP fhirbridge_request_seconds API request latency in this server process.",
        "# TYPE fhirbridge_request_seconds summary",
    ]
    for endpoint, (count, total) in sorted(LATENCY.snapshot().items()):
        lines.append(f'fhirbridge_request_seconds_count{{endpoint="{endpoint}"}} {count}')
        lines.append(f'fhirbridge_request_seconds_sum{{endpoint="{endpoint}"}} {total:.6f}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
