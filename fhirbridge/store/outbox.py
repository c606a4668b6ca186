"""Store: the write-back outbox, writes that could not be completed and are sent on the next run.

Nothing planned is lost (issue 5): a write that failed transiently, waited for a resource that
failed, or was cut off by the run's failure budget stays `pending` here with its payload; a write
the server (or R4B validation) refused stays `rejected`, with the reason, for the operator. A row
is removed once its identifier is written. One row per (target, type, identifier): a newer
attempt replaces the payload and counts the attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as model_select

from fhirbridge.store.engine import upsert
from fhirbridge.store.tables import OutboxEntry

_OUTBOX: Table = SQLModel.metadata.tables[OutboxEntry.__tablename__]
_KEY = ("target", "resource_type", "identifier")


def put(conn: Connection, row: Mapping[str, Any]) -> None:
    """Insert or replace the row for (target, type, identifier) on `conn`; attempts += 1.

    Args:
        row: every OutboxEntry column but id and attempts (created_at is kept on replace).
    """
    values = {**row, "attempts": 1}
    if values.get("last_error"):
        values["last_error"] = str(values["last_error"])[:2000]
    stmt = upsert(conn, _OUTBOX)
    keep = {*_KEY, "created_at", "attempts"}
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            **{k: stmt.excluded[k] for k in values if k not in keep},
            "attempts": _OUTBOX.c.attempts + 1,
        },
    )
    conn.execute(stmt, [values])


def remove(conn: Connection, target: str, resource_type: str, identifier: str) -> int:
    """Delete the row for (target, type, identifier), if any; returns how many went."""
    result = conn.execute(
        delete(_OUTBOX).where(
            _OUTBOX.c.target == target,
            _OUTBOX.c.resource_type == resource_type,
            _OUTBOX.c.identifier == identifier,
        )
    )
    return int(result.rowcount or 0)


def outbox_entries(
    engine: Engine, target: str | None = None, *, status: str | None = None
) -> list[OutboxEntry]:
    """Rows in the order first queued, optionally of one target and status."""
    with Session(engine) as session:
        query = model_select(OutboxEntry).order_by(col(OutboxEntry.id))
        if target is not None:
            query = query.where(OutboxEntry.target == target)
        if status is not None:
            query = query.where(OutboxEntry.status == status)
        rows = list(session.exec(query))
        for row in rows:
            session.expunge(row)
        return rows


def outbox_counts(engine: Engine, target: str) -> dict[str, int]:
    """Rows per status for one target, e.g. {"pending": 2, "rejected": 1}."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_OUTBOX.c.status, func.count())
            .where(_OUTBOX.c.target == target)
            .group_by(_OUTBOX.c.status)
        )
        return {status: n for status, n in sorted(rows)}
