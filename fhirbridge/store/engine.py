"""Store: engine construction and schema migration (never at import time)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Select, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from fhirbridge.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL; SQLite gets WAL and NORMAL sync for batch writes.

    Raises:
        ConfigError: the URL cannot be parsed or its driver is missing.
    """
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError("--db", "", f"not a usable database URL ({type(exc).__name__})") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a run writes; NORMAL sync is safe with WAL and avoids an
    # fsync per commit (performance-anchors.md section 3). busy_timeout waits for a second
    # writer instead of failing at once (two `fhirbridge writeback` processes).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoint the WAL every ~40 MB instead of every ~4 MB: a 5,000-row ingest batch writes
    # about 7 MB of WAL, so the default checkpointed (and fsynced) on every commit, ~10% of the
    # ingest time (bench/ingest.py profile). Readers are unaffected; the WAL is bounded still.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def upsert(bind: Engine | Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the bind's dialect (PostgreSQL or SQLite).

    Bulk writes go through these instead of ORM objects (performance-anchors.md section 3).
    """
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def execute_rows(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """`sql` with `?` placeholders once per row, through the driver's executemany.

    For bulk writes of plain values: SQLAlchemy's per-row parameter processing is skipped, so
    values must already be what the driver takes (dates through `driver_date`). The
    placeholders are rewritten for drivers of the `format` paramstyle (psycopg).
    """
    if not rows:
        return
    if conn.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, list(rows))


def driver_query(conn: Connection, query: Select[Any]) -> tuple[str, Any]:
    """A Core query as the driver's SQL text and parameters, to run on its own cursor."""
    compiled = query.compile(conn)
    values = compiled.construct_params()
    if compiled.positional:
        return str(compiled), tuple(values[n] for n in compiled.positiontup or ())
    return str(compiled), values


def fetch_all(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """Every row of a Core query as the driver's plain tuples, for many rows of plain columns
    (no type processing): a SQLAlchemy row costs about 1.5 µs more, 0.3 s for the 200,000
    patient ids an analyze run of 100,000 patients reads (bench/analyze.py)."""
    sql, args = driver_query(conn, query)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def driver_date(conn: Connection, day: date) -> date | str:
    """A date as `execute_rows` passes it: as SQLAlchemy stores dates in SQLite (ISO text,
    without the sqlite3 module's date adapter, deprecated since Python 3.12), else the date."""
    return day.isoformat() if conn.dialect.name == "sqlite" else day


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent).

    Raises:
        ConfigError: the database cannot be reached.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise ConfigError(
            "--db", "", f"cannot open the database ({exc.orig.__class__.__name__})"
        ) from None


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the tables (a developer command, not for operators)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
