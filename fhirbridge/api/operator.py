"""Entrypoint: the operator API, /api/v1 (described by /api/v1/openapi.json).

Bearer tokens with roles (api/tokens.py); every request that touches patient data is written
to the api_access audit table, refused ones included. Views parse, call services, serialise.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import orjson
from flask import Blueprint, Response, g, jsonify, request

from fhirbridge.api.context import api
from fhirbridge.api.errors import ApiError
from fhirbridge.api.openapi import OPENAPI
from fhirbridge.api.tokens import Principal
from fhirbridge.mappers import MappingContext
from fhirbridge.store import admin
from fhirbridge.sync import Ingest, Received

log = logging.getLogger(__name__)
bp = Blueprint("operator", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # R4 id datatype
TARGETS = ("bundle-file", "fhir-full", "none")


# Query parameters each view understands; any other is a 400, so a typo (`?asof=`) is not
# silently ignored.
_QUERY = {"operator.runs": {"limit"}, "operator.patient_adherence": {"as_of"}}


@bp.before_request
def _strict_query() -> None:
    unknown = sorted(set(request.args) - _QUERY.get(request.endpoint or "", set()))
    if unknown:
        raise ApiError(400, f"unknown query parameter {unknown[0]!r}")


def requires(grant: str) -> Callable[[F], F]:
    """Authenticate the bearer token and check its role grants `grant` (401 / 403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = api().tokens.authenticate(request.headers.get("Authorization"))
            patient = _patient_of(kwargs)
            if principal is None:
                raise ApiError(401, "a valid bearer token is required")
            g.principal = principal
            if not principal.may(grant):
                _audit(principal, patient, 403)
                raise ApiError(403, f"role {principal.role} may not do this")
            response = view(*args, **kwargs)
            if grant == "patient-data":
                _audit(principal, patient, 200)
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


def _patient_of(kwargs: dict[str, Any]) -> str | None:
    pid = kwargs.get("pid")
    if pid is None:
        return None
    if not _FHIR_ID.match(pid):
        raise ApiError(400, "patient id is not a FHIR id")
    return f"Patient/{pid}"


def _audit(principal: Principal, patient: str | None, status: int) -> None:
    admin.record_access(
        api().services.store.engine,
        at=api().now(),
        token_name=principal.name,
        role=principal.role,
        method=request.method,
        route=str(request.url_rule),
        patient=patient,
        status=status,
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(OPENAPI)


@bp.get("/runs")
@requires("read")
def runs() -> Response:
    limit = request.args.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise ApiError(400, "limit must be an integer from 1 to 1000")
    return jsonify(
        {"runs": [_run_json(r, report=False) for r in api().services.store.runs(int(limit))]}
    )


@bp.get("/runs/<int:run_id>")
@requires("read")
def run(run_id: int) -> Response:
    found = [r for r in api().services.store.runs(limit=100_000) if r.id == run_id]
    if not found:
        raise ApiError(404, f"no run {run_id}")
    return jsonify(_run_json(found[0], report=True))


@bp.post("/runs")
@requires("operate")
def start_run() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    body = {} if body is None and not request.data else body
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"source", "as_of", "target"})
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}")
    source, target = body.get("source"), body.get("target", "bundle-file")
    if source is not None and (
        not isinstance(source, str) or not source.startswith(("http://", "https://"))
    ):
        raise ApiError(400, "source must be a FHIR base URL (files are run from the command line)")
    if target not in TARGETS:
        raise ApiError(400, f"target must be one of {', '.join(TARGETS)}")
    try:
        as_of = date.fromisoformat(body["as_of"]) if "as_of" in body else api().today()
    except (TypeError, ValueError):
        raise ApiError(400, "as_of must be a date YYYY-MM-DD") from None
    services = api().services

    def work() -> None:
        from fhirbridge.workflow import run_all

        try:
            run_all(services, source=source, as_of=as_of, out=Path("fhirbridge-out"), target=target)
        except Exception as exc:  # the run row records the failure; this thread must not die loud
            log.warning("run started through the API failed: %s", type(exc).__name__)

    threading.Thread(target=work, name="fhirbridge-run", daemon=True).start()
    return jsonify({"status": "started", "as_of": as_of.isoformat(), "target": target}), 202


@bp.get("/dead-letters")
@requires("integrate")
def dead_letters() -> Response:
    # Bodies stay in the database: they are patient data, and operators need the reason.
    return jsonify(
        {
            "dead_letters": [
                {
                    "id": d.id,
                    "source": d.source,
                    "location": d.location,
                    "resource_type": d.resource_type,
                    "resource_id": d.resource_id,
                    "reason": d.reason,
                    "created_at": d.created_at.isoformat(),
                }
                for d in api().services.store.dead_letters()
            ]
        }
    )


@bp.post("/dead-letters/<int:letter_id>/retry")
@requires("operate")
def retry_dead_letter(letter_id: int) -> Response:
    """Ingest a dead letter again (after a mapping or configuration change)."""
    services = api().services
    letter = admin.dead_letter(services.store.engine, letter_id)
    if letter is None:
        raise ApiError(404, f"no dead letter {letter_id}")
    try:
        resource = orjson.loads(letter.body)
    except orjson.JSONDecodeError:
        return jsonify({"id": letter_id, "outcome": "still-unusable", "reason": "not valid JSON"})
    if not isinstance(resource, dict):
        return jsonify(
            {"id": letter_id, "outcome": "still-unusable", "reason": "not a JSON object"}
        )
    ingest = Ingest(
        services.store,
        MappingContext(terminology=services.terminology),
        source=letter.source,
        run_id=None,
        now=api().now(),
    )
    ingest.add(Received(resource=resource, raw=letter.body, location=letter.location or ""))
    ingest.flush()
    if sum(ingest.counts.stored.values()):
        admin.delete_dead_letter(services.store.engine, letter_id)
        return jsonify({"id": letter_id, "outcome": "stored", "reason": None})
    reason = next(iter(ingest.counts.skipped), "unusable")
    return jsonify({"id": letter_id, "outcome": "still-unusable", "reason": reason})


@bp.get("/patients/<pid>/findings")
@requires("patient-data")
def patient_findings(pid: str) -> Response:
    rows = api().services.store.findings(patient=f"Patient/{pid}")
    return jsonify(
        {
            "patient": f"Patient/{pid}",
            "findings": [
                {
                    **orjson.loads(r.body),
                    "status": r.status,
                    "first_seen": r.first_seen.isoformat(),
                    "last_seen": r.last_seen.isoformat(),
                    "resolved_on": r.resolved_on.isoformat() if r.resolved_on else None,
                }
                for r in rows
            ],
        }
    )


@bp.get("/patients/<pid>/adherence")
@requires("patient-data")
def patient_adherence(pid: str) -> Response:
    raw = request.args.get("as_of")
    try:
        as_of = date.fromisoformat(raw) if raw is not None else api().today()
    except ValueError:
        raise ApiError(400, "as_of must be a date YYYY-MM-DD") from None
    analysis = api().services.patient_analysis(f"Patient/{pid}", as_of)
    lines = [r.to_json() for r in analysis.adherence] if analysis else []
    return jsonify({"patient": f"Patient/{pid}", "as_of": as_of.isoformat(), "adherence": lines})


@bp.post("/findings/<key>/acknowledge")
@requires("operate")
def acknowledge(key: str) -> tuple[Response, int]:
    """Record that a clinician acknowledged or overrode a finding: it is not raised again until
    its prescriptions or evidence change (reconciliation suppression)."""
    from fhirbridge.store.suppression import record_acknowledgement

    if not re.fullmatch(r"[0-9a-f]{32}", key):
        raise ApiError(400, "key must be a finding key (32 hex characters)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"reason", "kind", "by"}:
        raise ApiError(400, "the body must be an object with reason, and optionally kind and by")
    reason, kind = body.get("reason"), body.get("kind", "acknowledged")
    if not isinstance(reason, str) or not re.search(r"[^ \t\n]", reason) or len(reason) > 500:
        raise ApiError(400, "reason is required (up to 500 characters)")
    if kind not in ("acknowledged", "overridden"):
        raise ApiError(400, "kind must be acknowledged or overridden")
    store = api().services.store
    rows = [r for r in store.findings() if r.key == key]
    if not rows:
        raise ApiError(404, f"no finding {key}")
    by = body.get("by") if isinstance(body.get("by"), str) and body["by"].strip() else None
    principal: Principal = g.principal
    record_acknowledgement(
        store,
        key,
        by=(by or principal.name)[:200],
        at=api().now(),
        reason=reason.strip(),
        kind=kind,
    )
    _audit(principal, rows[0].patient_id, 201)
    return jsonify({"key": key, "kind": kind, "patient": rows[0].patient_id}), 201


@bp.get("/ledger")
@requires("operate")
def ledger() -> Response:
    return jsonify(
        {
            "entries": [
                {
                    "target": e.target,
                    "resource_type": e.resource_type,
                    "identifier": e.identifier,
                    "finding_key": e.finding_key,
                    "server_id": e.server_id,
                    "version_id": e.version_id,
                    "status": e.status,
                    "last_error": e.last_error,
                    "updated_at": e.updated_at.isoformat(),
                }
                for e in api().services.store.ledger()
            ]
        }
    )


@bp.get("/outbox")
@requires("operate")
def outbox() -> Response:
    """Write-backs waiting for the next run (payloads stay in the database: patient data)."""
    from fhirbridge.store.outbox import outbox_entries

    return jsonify(
        {
            "entries": [
                {
                    "target": e.target,
                    "resource_type": e.resource_type,
                    "identifier": e.identifier,
                    "patient": e.patient_id,
                    "finding_key": e.finding_key,
                    "rule": e.rule,
                    "status": e.status,
                }
                for e in outbox_entries(api().services.store.engine)
            ]
        }
    )


def _run_json(run: Any, *, report: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id,
        "command": run.command,
        "source": run.source,
        "as_of": run.as_of.isoformat() if run.as_of else None,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "status": run.status,
    }
    if report:
        data["report"] = orjson.loads(run.report) if run.report else None
    return data
