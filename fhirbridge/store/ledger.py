"""Store: the write-back idempotency ledger and the per-key write lock that spans processes.

Conditional create is not race-safe on the major FHIR servers (ehr-integration.md: HAPI #3141,
#4597; microsoft/fhir-server #1382; Medplum #4234), so exactly-once lives here: one ledger row
per (target, resource type, identifier) with the server id, version and content hash, and ONE
WRITE AT A TIME PER KEY across processes. `SqlLedger.locked(...)` opens a transaction that holds
the key's lock while the caller reads the row, writes to the server and records the outcome:

- PostgreSQL: `pg_advisory_xact_lock(<64-bit hash of the key>)`, released at commit/rollback
  (also when the process dies: the server ends its session). Other keys are not blocked.
- SQLite: `BEGIN IMMEDIATE`, the database's single writer lock; it serialises every write, which
  is coarser than per key but correct, and waits through `busy_timeout` (store/engine.py).

Everything a write changes (ledger row, audit row, outbox row) goes through the unit's one
connection, so it commits or vanishes together; a process killed between the server's accept
and the commit leaves no ledger row, and the next run adopts the resource through the
`If-None-Exist` backstop (writeback/publisher.py). Nothing else may write while a unit is open
(on SQLite another connection would wait for the lock this one holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, text
from sqlmodel import SQLModel

from fhirbridge.store import audit, outbox
from fhirbridge.store.engine import upsert
from fhirbridge.store.tables import LedgerEntry, OutboxEntry

_LEDGER: Table = SQLModel.metadata.tables[LedgerEntry.__tablename__]
_KEY = ("target", "resource_type", "identifier")
LedgerKey = tuple[str, str]  # (resource type, "system|value")


def lock_id(target: str, resource_type: str, identifier: str) -> int:
    """A signed 64-bit advisory-lock id for one ledger key (the first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(f"{target}\n{resource_type}\n{identifier}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class WriteUnit:
    """One key's write transaction: the ledger row as read under the lock, and what to record."""

    def __init__(self, conn: Connection, target: str, resource_type: str, identifier: str) -> None:
        self._conn = conn
        self.target, self.resource_type, self.identifier = target, resource_type, identifier
        row = (
            conn.execute(select(_LEDGER).where(*_where(target, resource_type, identifier)))
            .mappings()
            .first()
        )
        self.entry: LedgerEntry | None = None if row is None else LedgerEntry(**row)

    def record(self, entry: LedgerEntry) -> None:
        """Insert or update this key's ledger row."""
        _upsert_ledger(self._conn, entry)
        self.entry = entry

    def audit(self, row: Mapping[str, Any]) -> None:
        audit.add(self._conn, row)

    def queue(self, row: Mapping[str, Any]) -> None:
        """Keep a write in the outbox (pending or rejected) with its payload."""
        outbox.put(self._conn, row)

    def dequeue(self, resource_type: str | None = None, identifier: str | None = None) -> None:
        """Drop this key's outbox row (or another key's), once written."""
        outbox.remove(
            self._conn,
            self.target,
            resource_type or self.resource_type,
            identifier or self.identifier,
        )


class SqlLedger:
    """The ledger, outbox and audit of one database, for the publisher."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def snapshot(self, target: str) -> dict[LedgerKey, LedgerEntry]:
        """Every ledger row of `target`, keyed by (type, identifier): one query per run.

        A snapshot can be stale (another process writes meanwhile); the publisher uses it only to
        skip unchanged resources early and re-reads the row under the lock before any write.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(select(_LEDGER).where(_LEDGER.c.target == target)).mappings()
            return {(r["resource_type"], r["identifier"]): LedgerEntry(**r) for r in rows}

    @contextmanager
    def locked(self, target: str, resource_type: str, identifier: str) -> Iterator[WriteUnit]:
        """Hold the key's cross-process lock for the block; commit at the end, roll back on error.

        Raises:
            NotImplementedError: a database other than PostgreSQL or SQLite.
        """
        with self.engine.connect() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": lock_id(target, resource_type, identifier)},
                )
            elif dialect == "sqlite":
                # pysqlite opens transactions lazily (on the first write); BEGIN IMMEDIATE takes
                # the write lock now, before the ledger row is read.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                raise NotImplementedError(f"no write-back lock for {dialect}")
            unit = WriteUnit(conn, target, resource_type, identifier)
            yield unit
            conn.commit()

    def queue(self, row: Mapping[str, Any]) -> None:
        """Keep a write in the outbox without touching its key (it was never attempted)."""
        with self.engine.begin() as conn:
            outbox.put(conn, row)

    def dequeue(self, target: str, resource_type: str, identifier: str) -> None:
        with self.engine.begin() as conn:
            outbox.remove(conn, target, resource_type, identifier)

    def pending(self, target: str) -> list[OutboxEntry]:
        return outbox.outbox_entries(self.engine, target, status="pending")

    def outbox_counts(self, target: str) -> dict[str, int]:
        return outbox.outbox_counts(self.engine, target)

    def written(self, target: str, resource_type: str) -> frozenset[str]:
        """Identifiers of `resource_type` that the ledger records as written to `target`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_LEDGER.c.identifier).where(
                    _LEDGER.c.target == target,
                    _LEDGER.c.resource_type == resource_type,
                    _LEDGER.c.status == "written",
                )
            )
            return frozenset(identifier for (identifier,) in rows)


def _where(target: str, resource_type: str, identifier: str) -> tuple[Any, ...]:
    return (
        _LEDGER.c.target == target,
        _LEDGER.c.resource_type == resource_type,
        _LEDGER.c.identifier == identifier,
    )


def _upsert_ledger(conn: Connection, entry: LedgerEntry) -> None:
    values = entry.model_dump(exclude={"id"})
    stmt = upsert(conn, _LEDGER)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={k: stmt.excluded[k] for k in values if k not in _KEY},
    )
    conn.execute(stmt, [values])
