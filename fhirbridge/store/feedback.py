"""Store: CDS Hooks card feedback (accepted / overridden), kept once per card and timestamp."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Table
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as model_select

from fhirbridge.store.engine import upsert
from fhirbridge.store.tables import CdsFeedback

_FEEDBACK: Table = SQLModel.metadata.tables[CdsFeedback.__tablename__]


def add_feedback(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert feedback rows; a row already received (same card and timestamp) is ignored, so an
    EHR that retries its feedback POST does not count twice."""
    if not rows:
        return
    stmt = upsert(engine, _FEEDBACK).on_conflict_do_nothing(
        index_elements=["card", "outcome_timestamp"]
    )
    with engine.begin() as conn:
        conn.execute(stmt, list(rows))


def feedback_for(engine: Engine, finding_key: str | None = None) -> list[CdsFeedback]:
    with Session(engine) as session:
        query = model_select(CdsFeedback).order_by(col(CdsFeedback.id))
        if finding_key:
            query = query.where(CdsFeedback.finding_key == finding_key)
        rows = list(session.exec(query))
        for row in rows:
            session.expunge(row)
        return rows
