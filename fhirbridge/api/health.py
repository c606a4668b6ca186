"""Entrypoint: liveness, readiness and Prometheus metrics for operators."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from fhirbridge.api.context import api

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Readiness: the database answers (and, once configured, each FHIR connection)."""
    checks: dict[str, str] = {}
    try:
        with api().services.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
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
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
