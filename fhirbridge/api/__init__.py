"""API: the Flask app factory. CDS Hooks and the SMART patient page for clinicians, health and
metrics for operators.

Views are thin: parse, call a service or the evaluation, serialise. Errors are OperationOutcomes
(api/errors.py). Nothing is built at import time: `create_app(settings, services)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask

from fhirbridge.api import errors
from fhirbridge.api.cds_auth import CdsClient, CdsVerifier
from fhirbridge.api.context import ApiContext
from fhirbridge.api.tokens import load_tokens
from fhirbridge.mapping_tools import MappingWatcher
from fhirbridge.services import Services
from fhirbridge.settings import Settings


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    today: Callable[[], date] | None = None,
) -> Flask:
    """The WSGI app.

    Args:
        settings: defaults to loading config/fhirbridge.toml and the environment.
        services: defaults to building them from settings (bootstrap.build_services).
        today: the evaluation date for live CDS calls (default: the server's local date).
    """
    if services is None:
        from fhirbridge.bootstrap import build_services

        services = build_services(settings)
    settings = services.settings
    clients = {
        c.issuer: CdsClient(issuer=c.issuer, jwks_url=c.jwks_url) for c in settings.cds_clients
    }
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep FHIR/CDS key order as built
    app.extensions["fhirbridge"] = ApiContext(
        services=services,
        cds_verifier=CdsVerifier(clients) if clients else None,
        cds_base_url=settings.cds_base_url,
        today=today or date.today,
        now=lambda: datetime.now(UTC),
        tokens=load_tokens(Path(settings.api_tokens_file) if settings.api_tokens_file else None),
    )
    errors.register(app)
    if settings.mapping_patterns:
        # Integrators change mapping files while the server runs: pick them up, no restart.
        watcher = MappingWatcher(services, settings.mapping_patterns, time.monotonic)
        app.before_request(watcher.before_request)
    from fhirbridge.api.cds_hooks import bp as cds_bp
    from fhirbridge.api.health import bp as health_bp
    from fhirbridge.api.operator import bp as operator_bp
    from fhirbridge.api.patient_page import bp as page_bp

    app.register_blueprint(cds_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(operator_bp)
    app.register_blueprint(page_bp)
    return app


__all__ = ["create_app"]
