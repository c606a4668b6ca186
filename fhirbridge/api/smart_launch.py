"""Entrypoint: SMART App Launch 2.0, EHR launch, as a public client with PKCE (S256) and state.

The EHR opens `/patient-page/launch?iss=…&launch=…`; the app reads
`{iss}/.well-known/smart-configuration`, sends the browser to the authorization endpoint
(response_type=code, client_id, redirect_uri, launch, scope, state, aud=iss, code_challenge,
code_challenge_method=S256), and on `/patient-page/callback?code=…&state=…` exchanges the code
at the token endpoint with its code_verifier. The token response names the patient in context.
hl7.org/fhir/smart-app-launch/app-launch.html (STU 2.x); PKCE: RFC 7636.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import requests

from fhirbridge.api.errors import ApiError
from fhirbridge.api.fhir_fetch import fetch_prefetch
from fhirbridge.evaluation import bundle_resources

TIMEOUT = (3.05, 15)  # connect, read (seconds): a clinician is waiting
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id datatype

# What the page reads for the patient in context (the CDS Hooks prefetch plus encounters, for
# inpatient stays); prescribers are read after, by the ids the orders name.
READS = {
    "patient": "Patient/{{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}"
    "&_include=MedicationRequest:medication",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "encounters": "Encounter?patient={{context.patientId}}",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SmartEndpoints:
    authorize: str
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenGrant:
    access_token: str
    patient: str  # the FHIR id of the patient in context
    expires_in: int  # seconds
    need_patient_banner: bool  # SMART: false when the EHR already shows the patient


def new_verifier() -> str:
    """A PKCE code_verifier: 64 random bytes as base64url, 86 characters of [A-Za-z0-9-_]
    (RFC 7636 section 4.1: 43 to 128 unreserved characters)."""
    return secrets.token_urlsafe(64)


def challenge_of(verifier: str) -> str:
    """The S256 code_challenge: BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636
    section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    return secrets.token_urlsafe(32)


def discover(iss: str) -> SmartEndpoints:
    """The authorization and token endpoints from `{iss}/.well-known/smart-configuration`.

    Raises:
        ApiError: 502 when the EHR gives no usable configuration or does not offer S256.
    """
    url = f"{iss}/.well-known/smart-configuration"
    try:
        response = requests.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT)
        config = orjson.loads(response.content) if response.status_code == 200 else None
    except (requests.RequestException, orjson.JSONDecodeError):
        config = None
    if not isinstance(config, dict):
        raise ApiError(502, "the EHR's SMART configuration could not be read")
    authorize, token = config.get("authorization_endpoint"), config.get("token_endpoint")
    if not isinstance(authorize, str) or not isinstance(token, str):
        raise ApiError(
            502, "the EHR's SMART configuration names no authorization or token endpoint"
        )
    methods = config.get("code_challenge_methods_supported")
    # SMART 2.0 servers SHALL support S256 and list it; plain is never used (RFC 7636 7.2).
    if isinstance(methods, list) and "S256" not in methods:
        raise ApiError(502, "the EHR does not offer PKCE with S256")
    for endpoint in (authorize, token):
        _require_tls(endpoint)
    return SmartEndpoints(authorize=authorize, token=token)


def authorize_url(
    endpoints: SmartEndpoints,
    *,
    client_id: str,
    redirect_uri: str,
    launch: str,
    scope: str,
    state: str,
    aud: str,
    verifier: str,
) -> str:
    """Where the browser goes to authorize the app (SMART App Launch "authorization request")."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "launch": launch,
        "scope": scope,
        "state": state,
        "aud": aud,
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if urlsplit(endpoints.authorize).query else "?"
    return f"{endpoints.authorize}{separator}{urlencode(query)}"


def exchange_code(
    token_url: str, *, code: str, redirect_uri: str, client_id: str, verifier: str
) -> TokenGrant:
    """POST the code with its verifier (public client: client_id in the form, no secret).

    Raises:
        ApiError: 400 when the EHR refuses the code (launch again), 502 when it fails.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    try:
        # Not retried: an authorization code is single-use (RFC 6749 section 4.1.2).
        response = requests.post(
            token_url, data=form, headers={"Accept": "application/json"}, timeout=TIMEOUT
        )
        body = orjson.loads(response.content)
    except (requests.RequestException, orjson.JSONDecodeError):
        raise ApiError(502, "the EHR's token endpoint did not answer") from None
    if not isinstance(body, dict):
        raise ApiError(502, "the EHR's token endpoint did not answer with a JSON object")
    if response.status_code == 400:
        error = body.get("error") if isinstance(body.get("error"), str) else "invalid_request"
        raise ApiError(400, f"the EHR refused the authorization code ({error}); launch again")
    if response.status_code != 200:
        raise ApiError(502, f"the EHR's token endpoint answered {response.status_code}")
    return _grant(body)


def _grant(body: Mapping[str, Any]) -> TokenGrant:
    token, patient = body.get("access_token"), body.get("patient")
    if not isinstance(token, str) or not token:
        raise ApiError(502, "the token response has no access_token")
    if not isinstance(patient, str) or not _FHIR_ID.match(patient):
        raise ApiError(400, "the launch has no patient in context (token response `patient`)")
    expires = body.get("expires_in")
    return TokenGrant(
        access_token=token,
        patient=patient,
        expires_in=expires if isinstance(expires, int) and expires > 0 else 3600,
        need_patient_banner=body.get("need_patient_banner") is not False,
    )


def read_patient_data(iss: str, token: str, patient_id: str) -> list[dict[str, Any]]:
    """The patient's resources from the EHR with the launch's access token, and the
    Practitioners and PractitionerRoles their orders name (for the prescribers' roles)."""
    found = fetch_prefetch(iss, token, READS, patient_id)
    resources = [r for key in READS for r in bundle_resources(found.get(key))]
    ids = sorted(
        {
            ref.split("/", 1)[1]
            for r in resources
            if isinstance(r.get("requester"), Mapping)
            and isinstance(ref := r["requester"].get("reference"), str)
            and ref.startswith("Practitioner/")
            and _FHIR_ID.match(ref.split("/", 1)[1])
        }
    )
    if ids:
        joined = ",".join(ids)
        people = {
            "practitioners": f"Practitioner?_id={joined}",
            "roles": f"PractitionerRole?practitioner={joined}",
        }
        more = fetch_prefetch(iss, token, people, patient_id)
        resources += [r for key in people for r in bundle_resources(more.get(key))]
    return resources


def _require_tls(url: str) -> None:
    """Codes and tokens only over TLS, except to this machine (tests, a local sidecar)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK:
        raise ApiError(502, "the EHR's SMART endpoints must use https")
