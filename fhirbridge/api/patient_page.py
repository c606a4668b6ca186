"""Entrypoint: the SMART on FHIR patient page (blueprint): EHR launch, callback, the page, and
the demo mode on the bundled constructed patients.

The patient in context lives in the server-side session (api/page_session.py), never in a URL:
`/patient-page/` renders whoever the session names. Views parse, call the launch steps or the
page builder, and render; errors are OperationOutcomes (api/errors.py). Logs carry the issuer
host and counts, never a patient id, a name or a token.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from fhirbridge.api import page_session, smart_launch
from fhirbridge.api.context import api
from fhirbridge.api.errors import ApiError
from fhirbridge.api.page_data import PageModel, build_page
from fhirbridge.api.page_render import render_demo_index, render_page
from fhirbridge.api.page_sources import context_for, demo_data, example_patients

log = logging.getLogger(__name__)

bp = Blueprint(
    "patient_page",
    __name__,
    static_folder="static",
    static_url_path="/patient-page/static",
)
SESSION_CAP = timedelta(hours=8)  # a launched session never outlives a working day
DEMO_LIFETIME = timedelta(hours=1)
# Nothing from elsewhere; the page may sit in an EHR's frame, so frame-ancestors stays open.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'"
)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # patient data: never from a cache
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


@bp.get("/patient-page/launch")
def launch() -> BaseResponse:
    """EHR launch: check the issuer, discover its endpoints, send the browser to authorize."""
    app = api().services.settings.smart_app
    if not app.client_id:
        raise ApiError(404, "SMART launch is not configured ([smart_app] client_id)")
    iss, launch_token = request.args.get("iss", ""), request.args.get("launch", "")
    if not iss or not launch_token:
        raise ApiError(400, "an EHR launch needs iss and launch")
    iss = iss.rstrip("/")
    if iss not in app.issuers:
        raise ApiError(400, "iss is not an EHR allowed to launch this app ([smart_app] issuers)")
    endpoints = smart_launch.discover(iss)
    state, verifier = smart_launch.new_state(), smart_launch.new_verifier()
    redirect_uri = app.redirect_uri or f"{request.url_root}patient-page/callback"
    pending = {
        "step": "authorize",
        "iss": iss,
        "state": state,
        "verifier": verifier,
        "token_url": endpoints.token,
        "redirect_uri": redirect_uri,
    }
    cookie = page_session.new_cookie()
    _save(cookie, pending, page_session.LAUNCH_LIFETIME)
    log.info("patient page launch from %s", urlsplit(iss).hostname)
    target = smart_launch.authorize_url(
        endpoints,
        client_id=app.client_id,
        redirect_uri=redirect_uri,
        launch=launch_token,
        scope=app.scopes,
        state=state,
        aud=iss,
        verifier=verifier,
    )
    return _with_cookie(redirect(target, code=302), cookie)


@bp.get("/patient-page/callback")
def callback() -> BaseResponse:
    """The authorization response: check state, exchange the code, keep the patient and token."""
    cookie = request.cookies.get(page_session.COOKIE)
    pending = page_session.load(api().services.store.engine, cookie, api().now())
    if pending is None or pending.get("step") != "authorize":
        raise ApiError(400, "no launch in progress in this browser: launch again from the EHR")
    state = request.args.get("state", "")
    if not hmac.compare_digest(state.encode(), str(pending["state"]).encode()):
        raise ApiError(400, "state does not match this browser's launch")
    # The state is single-use: a replayed or second callback finds nothing.
    page_session.drop(api().services.store.engine, cookie)
    if request.args.get("error"):
        raise ApiError(400, f"the EHR did not authorize the app ({request.args['error'][:64]})")
    code = request.args.get("code", "")
    if not code:
        raise ApiError(400, "the authorization response has no code")
    app = api().services.settings.smart_app
    assert app.client_id is not None  # noqa: S101  (launch refuses to start without one)
    grant = smart_launch.exchange_code(
        str(pending["token_url"]),
        code=code,
        redirect_uri=str(pending["redirect_uri"]),
        client_id=app.client_id,
        verifier=str(pending["verifier"]),
    )
    session = {
        "step": "ehr",
        "iss": pending["iss"],
        "patient": grant.patient,
        "token": grant.access_token,
        "banner": grant.need_patient_banner,
    }
    fresh = page_session.new_cookie()  # a new cookie once authorized (no session fixation)
    _save(fresh, session, min(timedelta(seconds=grant.expires_in), SESSION_CAP))
    return _with_cookie(redirect("/patient-page/", code=303), fresh)


@bp.get("/patient-page/")
def page() -> Response:
    """The page for the patient the session names (launched, or picked in the demo)."""
    session = page_session.load(
        api().services.store.engine, request.cookies.get(page_session.COOKIE), api().now()
    )
    if session is None or session.get("step") not in ("ehr", "demo"):
        raise ApiError(401, "no patient in this session: launch from the EHR, or open the demo")
    if session["step"] == "demo":
        model = _demo_model(str(session["patient"]))
        return _html(render_page(model, demo=True))
    resources = smart_launch.read_patient_data(
        str(session["iss"]), str(session["token"]), str(session["patient"])
    )
    model = _model(f"Patient/{session['patient']}", resources, api().today())
    return _html(render_page(model, demo=False, show_banner=bool(session.get("banner", True))))


@bp.get("/patient-page/demo")
def demo_index() -> Response:
    _demo_enabled()
    return _html(render_demo_index(example_patients()))


@bp.post("/patient-page/demo")
def demo_pick() -> BaseResponse:
    """Pick an example patient (form field `patient`), then see the page without the id in it."""
    _demo_enabled()
    patient = request.form.get("patient", "")
    if patient not in {p.id for p in example_patients()}:
        raise ApiError(400, "patient must be one of the bundled example patients")
    cookie = page_session.new_cookie()
    _save(cookie, {"step": "demo", "patient": patient}, DEMO_LIFETIME)
    return _with_cookie(redirect("/patient-page/", code=303), cookie)


def _demo_model(patient_id: str) -> PageModel:
    data = demo_data(api().services, patient_id, api().today())
    if data is None:
        raise ApiError(400, "not an example patient")
    return _model(f"Patient/{patient_id}", data.resources, data.as_of)


def _model(patient: str, resources: list[dict[str, Any]], as_of: Any) -> PageModel:
    services = api().services
    ctx, prescribers = context_for(services, resources)
    model = build_page(
        patient,
        resources,
        ctx=ctx,
        prescribers=prescribers,
        params=services.settings.analysis,
        as_of=as_of,
    )
    log.info(
        "patient page: %d drugs, %d findings",
        sum(len(b.rows) for b in model.blocks),
        len(model.findings),
    )
    return model


def _demo_enabled() -> None:
    if not api().services.settings.smart_app.demo:
        raise ApiError(404, "the demo is turned off ([smart_app] demo = false)")


def _save(cookie: str, data: dict[str, Any], lifetime: timedelta) -> None:
    page_session.save(api().services.store.engine, cookie, data, now=api().now(), lifetime=lifetime)


def _with_cookie(response: BaseResponse, cookie: str) -> BaseResponse:
    response.set_cookie(
        page_session.COOKIE,
        cookie,
        path=page_session.COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response


def _html(text: str) -> Response:
    return Response(text, mimetype="text/html")
