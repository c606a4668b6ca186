"""Store: patient page sessions, sealed by the caller (api/page_session.py); rows by cookie hash.

Kept in the database, not in process memory, so the launch and its callback may land on
different server processes (gunicorn workers, or hosts sharing PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Table, delete, select
from sqlmodel import SQLModel

from fhirbridge.store.engine import upsert
from fhirbridge.store.tables import PageSession

_SESSION: Table = SQLModel.metadata.tables[PageSession.__tablename__]


def put_session(engine: Engine, key: str, data: bytes, expires_at: datetime, now: datetime) -> None:
    """Insert or replace the session row `key`; rows expired by `now` are swept on the way."""
    stmt = upsert(engine, _SESSION).values(key=key, data=data, expires_at=expires_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"data": data, "expires_at": expires_at}
    )
    with engine.begin() as conn:
        conn.execute(delete(_SESSION).where(_SESSION.c.expires_at <= now))
        conn.execute(stmt)


def get_session(engine: Engine, key: str, now: datetime) -> bytes | None:
    """The sealed data of a live session; None when unknown or expired."""
    with engine.connect() as conn:
        row = conn.execute(
            select(_SESSION.c.data, _SESSION.c.expires_at).where(_SESSION.c.key == key)
        ).first()
    if row is None or row.expires_at <= now:
        return None
    data: bytes = row.data
    return data


def delete_session(engine: Engine, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(_SESSION).where(_SESSION.c.key == key))
