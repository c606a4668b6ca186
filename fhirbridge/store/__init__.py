"""Store: SQLModel tables, migrations and the repository (SQLite by default, PostgreSQL by URL)."""

from fhirbridge.store.engine import make_engine, upgrade
from fhirbridge.store.repository import SqlStore
from fhirbridge.store.tables import (
    DeadLetter,
    FindingRecord,
    LedgerEntry,
    RawResource,
    Run,
    SyncCursor,
)

__all__ = [
    "DeadLetter",
    "FindingRecord",
    "LedgerEntry",
    "RawResource",
    "Run",
    "SqlStore",
    "SyncCursor",
    "make_engine",
    "upgrade",
]
