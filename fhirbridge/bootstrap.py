"""Composition root: settings → engine, store, terminology, services. Nothing at import time."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from fhirbridge.mappers import load_role_table, load_terminology
from fhirbridge.services import Services
from fhirbridge.settings import Settings, load_settings
from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.sync import FhirClient


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_services(
    settings: Settings | None = None,
    *,
    config: Path | None = None,
    database_url: str | None = None,
    client_retries: int = 4,
) -> Services:
    """Wire the services from settings (loaded from `config` and the environment if not given).

    Raises:
        ConfigError: a bad configuration file, database URL or terminology table.
    """
    settings = settings or load_settings(config)
    engine = make_engine(database_url or settings.database_url)
    upgrade(engine)
    return Services(
        settings=settings,
        store=SqlStore(engine),
        terminology=load_terminology(
            local_codes=settings.mappings.medications,
            origins=settings.mappings.origins,
            moud_includes_methadone=settings.moud_includes_methadone,
        ),
        roles=load_role_table(mappings=settings.mappings),
        now=utc_now,
        client_factory=partial(FhirClient, max_retries=client_retries),
    )
