"""Entrypoint: what the API's views share, built once by create_app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app

from fhirbridge.api.cds_auth import CdsVerifier
from fhirbridge.api.tokens import TokenTable
from fhirbridge.services import Services


@dataclass(slots=True)
class ApiContext:
    services: Services
    cds_verifier: CdsVerifier | None  # None: CDS Hooks calls are refused (no client configured)
    cds_base_url: str | None  # the public URL EHRs call; else the request's host URL
    today: Callable[[], date]  # the API edge reads the clock; domain code never does
    now: Callable[[], datetime]
    tokens: TokenTable  # operator API bearer tokens (hashed) and roles


def api() -> ApiContext:
    context: ApiContext = current_app.extensions["fhirbridge"]
    return context
