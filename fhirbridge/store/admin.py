"""Store: lookups and changes the operator API needs (dead letters by id, access audit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete
from sqlmodel import Session, col

from fhirbridge.store.tables import ApiAccess, DeadLetter


def dead_letter(engine: Engine, letter_id: int) -> DeadLetter | None:
    with Session(engine) as session:
        row = session.get(DeadLetter, letter_id)
        if row is not None:
            session.expunge(row)
        return row


def delete_dead_letter(engine: Engine, letter_id: int) -> None:
    with Session(engine) as session:
        session.exec(delete(DeadLetter).where(col(DeadLetter.id) == letter_id))
        session.commit()


def record_access(
    engine: Engine,
    *,
    at: datetime,
    token_name: str,
    role: str,
    method: str,
    route: str,
    patient: str | None,
    status: int,
) -> None:
    """One row per API request that touched patient data (or was refused access to it)."""
    with Session(engine) as session:
        session.add(
            ApiAccess(
                at=at,
                token_name=token_name,
                role=role,
                method=method,
                route=route,
                patient=patient,
                status=status,
            )
        )
        session.commit()


def accesses(engine: Engine, patient: str | None = None) -> list[ApiAccess]:
    from sqlmodel import select

    with Session(engine) as session:
        query = select(ApiAccess).order_by(col(ApiAccess.id))
        if patient:
            query = query.where(ApiAccess.patient == patient)
        rows = list(session.exec(query))
        for row in rows:
            session.expunge(row)
        return rows
