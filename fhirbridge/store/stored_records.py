"""Store: each patient's mapped records (mappers/compact.py), read by the analyze stage.

A row is current when its generation matches the one analysis computes; anything else (no
row, another generation) is mapped again from the raw resources and written back here.
Writing raw resources deletes the rows of the patients they belong to, before and after the
write (a resource may move between patients), in the same transaction (repository.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine, Table, and_, delete, select
from sqlmodel import SQLModel

from fhirbridge.store.engine import driver_query, fetch_all, upsert
from fhirbridge.store.tables import RawResource, StoredRecords

_RAW: Table = SQLModel.metadata.tables[RawResource.__tablename__]
_STORED: Table = SQLModel.metadata.tables[StoredRecords.__tablename__]
_CHUNK = 500  # bound parameters per statement, well under SQLite's limit


def put_stored_records(engine: Engine, rows: Sequence[tuple[str, str, bytes]]) -> None:
    """Upsert (patient, generation, body) rows."""
    if not rows:
        return
    stmt = upsert(engine, _STORED)
    stmt = stmt.on_conflict_do_update(
        index_elements=["patient_id"],
        set_={"generation": stmt.excluded.generation, "body": stmt.excluded.body},
    )
    with engine.begin() as conn:
        conn.execute(stmt, [{"patient_id": p, "generation": g, "body": b} for p, g, b in rows])


def forget_patients(conn: Connection, keys: Iterable[tuple[str, str]], patients: set[str]) -> None:
    """Delete the stored records of `patients` and of the current owners of these resource keys.

    Called inside the raw-resource write's transaction, before the write.
    """
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    for rtype, ids in by_type.items():
        for i in range(0, len(ids), _CHUNK):
            owners = select(_RAW.c.patient_id).where(
                and_(_RAW.c.resource_type == rtype, _RAW.c.resource_id.in_(ids[i : i + _CHUNK]))
            )
            conn.execute(delete(_STORED).where(_STORED.c.patient_id.in_(owners)))
    ordered = sorted(patients)
    for i in range(0, len(ordered), _CHUNK):
        conn.execute(delete(_STORED).where(_STORED.c.patient_id.in_(ordered[i : i + _CHUNK])))


def unmapped_patients(engine: Engine, generation: str) -> list[str]:
    """Patients with raw resources and no stored records of this generation.

    Distinct patients first, along the patient index alone (1.3M resources: 0.6 s, against
    3.5 s when each row's type is read from the table: bench/README.md); every resource with
    a patient is of a type the mappers read (mappers.MAPPERS), so no type filter is needed.
    """
    current = select(_STORED.c.patient_id).where(_STORED.c.generation == generation)
    patients = (
        select(_RAW.c.patient_id.label("patient"))
        .distinct()
        .where(_RAW.c.patient_id.is_not(None))
        .subquery()
    )
    query = (
        select(patients.c.patient)
        .where(patients.c.patient.not_in(current))
        .order_by(patients.c.patient)
    )
    with engine.connect() as conn:
        return [patient for (patient,) in conn.execute(query)]


def stored_patients(engine: Engine, generation: str) -> list[str]:
    """Patients with stored records of this generation, in order (to split the work)."""
    query = (
        select(_STORED.c.patient_id)
        .where(_STORED.c.generation == generation)
        .order_by(_STORED.c.patient_id)
    )
    with engine.connect() as conn:
        return [patient for (patient,) in fetch_all(conn, query)]


def read_stored_records(
    engine: Engine, generation: str, first: str | None = None, stop: str | None = None
) -> Iterator[tuple[str, bytes]]:
    """(patient, body) of this generation, by patient; `first` <= patient < `stop` if given."""
    query = select(_STORED.c.patient_id, _STORED.c.body).where(_STORED.c.generation == generation)
    if first is not None:
        query = query.where(_STORED.c.patient_id >= first)
    if stop is not None:
        query = query.where(_STORED.c.patient_id < stop)
    # Rows in batches straight from the driver's cursor: SQLAlchemy's row objects cost 5% of a
    # worker's time at 100,000 patients (bench/analyze.py, py-spy), for two plain columns.
    with engine.connect() as conn:
        sql, args = driver_query(conn, query.order_by(_STORED.c.patient_id))
        # PostgreSQL: a server-side (named) cursor, so a whole run's rows never sit in memory;
        # SQLite's cursor steps through the rows as they are fetched.
        pg = conn.dialect.name == "postgresql"
        cursor = conn.connection.cursor(name="stored_records") if pg else conn.connection.cursor()
        try:
            cursor.execute(sql, args)
            while rows := cursor.fetchmany(2000):
                for patient, body in rows:
                    yield str(patient), bytes(body)
        finally:
            cursor.close()
