"""Composition root: settings → engine, store, terminology, services. Nothing at import time."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

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
        writeback_hook=_test_crash_hook(),
    )


def _test_crash_hook() -> Callable[[Any], None] | None:
    """TEST ONLY: FHIRBRIDGE_TEST_CRASH_AFTER_WRITE=<ResourceType>[:<n>] makes the write-back
    SIGKILL this process after the server accepted that write and before the ledger records it
    (tests/integration/test_writeback_crash.py). Never set it in production."""
    spec = os.environ.get("FHIRBRIDGE_TEST_CRASH_AFTER_WRITE")
    if not spec:
        return None
    from fhirbridge.writeback import crash_after_write

    return crash_after_write(spec)
