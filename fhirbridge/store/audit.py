"""Store: the write-back audit trail, one row per write attempt and its outcome.

Rows are added inside the per-key write transaction (store/ledger.py), so the audit, the ledger
and the outbox agree: a process killed before that transaction commits leaves no row, and the
next run's adoption of the resource is audited instead. Rows carry references, identifiers and
the server's OperationOutcome text, never resource bodies (patient data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as model_select

from fhirbridge.store.tables import WriteAudit

_AUDIT: Table = SQLModel.metadata.tables[WriteAudit.__tablename__]
ERROR_LIMIT = 2000  # characters of OperationOutcome text kept per row (the column's size)


def add(conn: Connection, row: Mapping[str, Any]) -> None:
    """Insert one audit row on `conn` (inside the caller's transaction)."""
    values = dict(row)
    if values.get("error"):
        values["error"] = str(values["error"])[:ERROR_LIMIT]
    conn.execute(insert(_AUDIT), [values])


def audit_entries(
    engine: Engine, *, target: str | None = None, run_id: int | None = None
) -> list[WriteAudit]:
    """Audit rows in the order written, optionally for one target or one run."""
    with Session(engine) as session:
        query = model_select(WriteAudit).order_by(col(WriteAudit.id))
        if target is not None:
            query = query.where(WriteAudit.target == target)
        if run_id is not None:
            query = query.where(WriteAudit.run_id == run_id)
        rows = list(session.exec(query))
        for row in rows:
            session.expunge(row)
        return rows
