"""Entrypoint: the CDS Hooks 2.0 service (CONTRACT.md): discovery, patient-view, order-sign,
feedback. Views parse, call the evaluation, and serialise; the rules are the run's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, request

from fhirbridge.api.cards import cards_for
from fhirbridge.api.cds_auth import CdsAuthError
from fhirbridge.api.context import api
from fhirbridge.api.errors import ApiError
from fhirbridge.api.fhir_fetch import fetch_prefetch
from fhirbridge.errors import FhirError
from fhirbridge.evaluation import as_signed, bundle_resources, evaluate
from fhirbridge.mappers import MappingContext

bp = Blueprint("cds_hooks", __name__)

PATIENT_VIEW = "fhirbridge-patient-view"
ORDER_SIGN = "fhirbridge-order-sign"

# Prefetch templates (CDS Hooks 2.0 "Prefetch Template"): everything the rules read.
# _include brings referenced Medications so medicationReference resolves.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}"
    "&_include=MedicationRequest:medication",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
}
SERVICES = {
    PATIENT_VIEW: {
        "hook": "patient-view",
        "id": PATIENT_VIEW,
        "title": "fhirbridge: medication safety across prescribers",
        "description": "Adherence gaps, interactions across psychiatric and addiction "
        "prescribers, and warning signs, for the patient in context.",
        "prefetch": PREFETCH,
    },
    ORDER_SIGN: {
        "hook": "order-sign",
        "id": ORDER_SIGN,
        "title": "fhirbridge: check a medication order against the other prescribers' orders",
        "description": "Warns when a draft order combines dangerously with the patient's "
        "current medications from any prescriber (e.g. a benzodiazepine with "
        "buprenorphine, naltrexone with an opioid).",
        "prefetch": PREFETCH,
    },
}


@bp.get("/cds-services")
def discovery() -> Response:
    return jsonify({"services": list(SERVICES.values())})


@bp.post("/cds-services/<service_id>")
def call(service_id: str) -> Response:
    service = SERVICES.get(service_id)
    if service is None:
        raise ApiError(404, f"no CDS service {service_id!r}")
    _authenticate(service_id)
    try:
        # orjson: prefetch bundles are tens of kilobytes on every call (2-3x stdlib json).
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object (a CDS Hooks request)")
    if body.get("hook") != service["hook"]:
        raise ApiError(400, f"hook must be {service['hook']!r} for this service")
    context = body.get("context")
    if (
        not isinstance(context, dict)
        or not isinstance(context.get("patientId"), str)
        or not context["patientId"]
    ):
        raise ApiError(400, "context.patientId is required")
    if not isinstance(body.get("hookInstance"), str):
        raise ApiError(400, "hookInstance is required")
    patient = f"Patient/{context['patientId']}"
    prefetch = _prefetch(body, context["patientId"])
    resources = [
        r for key in PREFETCH if key != "patient" for r in bundle_resources(prefetch.get(key))
    ]
    today = api().today()
    drafts: list[dict[str, Any]] = []
    if service["hook"] == "order-sign":
        orders = [
            r
            for r in bundle_resources(context.get("draftOrders"))
            if r.get("resourceType") == "MedicationRequest"
        ]
        if not orders:
            raise ApiError(400, "context.draftOrders holds no MedicationRequest")
        drafts = [as_signed(o, i, today) for i, o in enumerate(orders)]
        for draft in drafts:
            draft.setdefault("subject", {"reference": patient})
    services = api().services
    medications = {
        f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"
    }
    ctx = MappingContext(terminology=services.terminology, medications=medications)
    analysis = evaluate(
        patient, [*resources, *drafts], ctx=ctx, as_of=today, params=services.settings.analysis
    )
    findings = list(analysis.findings)
    if drafts:
        # order-sign answers for the orders being signed: findings that implicate a draft.
        draft_refs = {f"MedicationRequest/{d['id']}" for d in drafts}
        findings = [f for f in findings if draft_refs & set(f.implicated)]
    return jsonify({"cards": cards_for(findings, page_url=_page_url())})


def _page_url() -> str | None:
    """The patient page as a SMART link on each card, when the app is registered with the EHR
    ([smart_app] client_id): the EHR launches it with iss and launch (CDS Hooks 2.0 Link)."""
    if not api().services.settings.smart_app.client_id:
        return None
    base = (api().cds_base_url or request.host_url).rstrip("/")
    return f"{base}/patient-page/launch"


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise ApiError(404, f"no CDS service {service_id!r}")
    _authenticate(f"{service_id}/feedback")
    body = request.get_json(silent=True)
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, "feedback must be a non-empty list")
    from fhirbridge.api.feedback import record_feedback

    record_feedback(service_id, items)
    return jsonify({})


def _authenticate(path: str) -> None:
    verifier = api().cds_verifier
    if verifier is None:
        raise ApiError(401, "no CDS client is configured ([[cds_hooks.clients]])")
    base = (api().cds_base_url or request.host_url).rstrip("/")
    try:
        verifier.verify(request.headers.get("Authorization"), f"{base}/cds-services/{path}")
    except CdsAuthError as exc:
        raise ApiError(401, str(exc)) from None


def _prefetch(body: Mapping[str, Any], patient_id: str) -> dict[str, Any]:
    """The request's prefetch, completed from its fhirServer when keys are missing or null.

    CDS Hooks 2.0: a service that cannot get the data it needs SHALL answer 412.
    """
    given = body.get("prefetch")
    prefetch: dict[str, Any] = dict(given) if isinstance(given, Mapping) else {}
    # The Patient resource is offered in prefetch for EHRs that send it; the rules do not need it.
    missing = [k for k in PREFETCH if k != "patient" and prefetch.get(k) is None]
    if not missing:
        return prefetch
    server, authorization = body.get("fhirServer"), body.get("fhirAuthorization")
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise ApiError(
            412, f"prefetch lacks {', '.join(missing)} and the request has no fhirServer"
        )
    token = authorization.get("access_token") if isinstance(authorization, Mapping) else None
    try:
        fetched = fetch_prefetch(server, token, {k: PREFETCH[k] for k in missing}, patient_id)
    except FhirError as exc:
        raise ApiError(412, f"could not read the patient's data from fhirServer: {exc}") from None
    prefetch.update(fetched)
    return prefetch
