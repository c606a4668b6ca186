"""Shared fixtures: databases (SQLite always; PostgreSQL when FHIRBRIDGE_TEST_DATABASE_URL is
set), the real FHIR test server (tests/fhir_server_fixture.py), and the Synthea data folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytest_plugins = ["tests.fhir_server_fixture"]

REPO = Path(__file__).resolve().parent.parent
SYNTHEA = REPO.parent / "shared" / "data" / "synthea"
PG_URL = os.environ.get("FHIRBRIDGE_TEST_DATABASE_URL")


def _backends() -> list[object]:
    backends: list[object] = ["sqlite"]
    backends.append(
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not PG_URL,
                reason="FHIRBRIDGE_TEST_DATABASE_URL is not set (PostgreSQL tests skipped)",
            ),
        )
    )
    return backends


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fhirbridge.db'}"
        return
    assert PG_URL is not None
    schema = f"fb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def synthea_dir() -> Path:
    """The shared Synthea patients; skipped with a reason where the folder is absent."""
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea data not found at {SYNTHEA} (it is shared/, not part of the repo)")
    return SYNTHEA
