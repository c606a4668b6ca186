"""Store: SQLModel tables, migrations and the repository (SQLite by default, PostgreSQL by URL)."""

from fhirbridge.store.audit import audit_entries
from fhirbridge.store.engine import make_engine, upgrade
from fhirbridge.store.ledger import SqlLedger, WriteUnit
from fhirbridge.store.outbox import outbox_entries
from fhirbridge.store.repository import SqlStore
from fhirbridge.store.tables import (
    DeadLetter,
    FindingRecord,
    LedgerEntry,
    OutboxEntry,
    RawResource,
    Run,
    SyncCursor,
    WriteAudit,
)

__all__ = [
    "DeadLetter",
    "FindingRecord",
    "LedgerEntry",
    "OutboxEntry",
    "RawResource",
    "Run",
    "SqlLedger",
    "SqlStore",
    "SyncCursor",
    "WriteAudit",
    "WriteUnit",
    "audit_entries",
    "make_engine",
    "outbox_entries",
    "upgrade",
]
