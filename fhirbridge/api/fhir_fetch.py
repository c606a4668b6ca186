"""Entrypoint: fill missing CDS Hooks prefetch from the EHR's FHIR server with the token the
request carried (fhirAuthorization), through the project's one FHIR client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from fhirbridge.sync import FhirClient


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r


def fetch_prefetch(
    server: str, token: str | None, templates: Mapping[str, str], patient_id: str
) -> dict[str, Any]:
    """Run each template for the patient; searches become searchset Bundles (all pages)."""
    results: dict[str, Any] = {}
    auth = _Bearer(token) if token else None
    with FhirClient(
        server.rstrip("/"), auth=auth, max_retries=1, max_wait=5.0, timeout=(3, 15)
    ) as client:
        for key, template in templates.items():
            query = template.replace("{{context.patientId}}", patient_id)
            path, _, params = query.partition("?")
            if not params and "/" in path:
                rtype, rid = path.split("/", 1)
                results[key] = client.read(rtype, rid)
                continue
            search = dict(p.split("=", 1) for p in params.split("&") if "=" in p)
            entries = [{"resource": r} for r in client.search(path, search)]
            results[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    return results
