"""Store: incremental sync state. `_lastUpdated` cursors, Bulk Data jobs, versions already held.

Every write here is its own committed transaction, and callers write a cursor only after the
resources it covers are committed (fhirbridge.sync.incremental), so a crash at any point leaves
a cursor that is behind the data, never ahead of it: the next run re-reads and de-duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import orjson
from sqlalchemy import Engine, Table, delete, select, tuple_
from sqlmodel import SQLModel

from fhirbridge.store.engine import upsert
from fhirbridge.store.tables import BulkExport, RawResource, SyncCursor

_CURSOR: Table = SQLModel.metadata.tables[SyncCursor.__tablename__]
_EXPORT: Table = SQLModel.metadata.tables[BulkExport.__tablename__]
_RAW: Table = SQLModel.metadata.tables[RawResource.__tablename__]
_ID_CHUNK = 500  # ids per IN (...) lookup: well under SQLite's 32,766 bound parameters


class SqlCursors:
    """Cursors and export jobs per source (a connection name, or a base URL without a query)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- cursors ------------------------------------------------------------------------
    def get(self, source: str, resource_type: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_CURSOR.c.cursor).where(
                    _CURSOR.c.source == source, _CURSOR.c.resource_type == resource_type
                )
            ).first()
            return None if row is None else str(row[0])

    def all(self, source: str) -> dict[str, str]:
        """resource type → cursor, for one source."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_CURSOR.c.resource_type, _CURSOR.c.cursor).where(_CURSOR.c.source == source)
            )
            return {t: c for t, c in rows}

    def put(self, source: str, resource_type: str, cursor: str, now: datetime) -> None:
        """Set the cursor (commit the data it covers first)."""
        stmt = upsert(self.engine, _CURSOR)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "resource_type"],
            set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
        )
        row = {"source": source, "resource_type": resource_type, "cursor": cursor}
        with self.engine.begin() as conn:
            conn.execute(stmt, [{**row, "updated_at": now}])

    # ---- what is already stored ---------------------------------------------------------
    def known_versions(
        self, resource_type: str, ids: Iterable[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        """id → stored (versionId, lastUpdated), for those of `ids` in the store (de-dup)."""
        wanted = sorted(set(ids))
        found: dict[str, tuple[str | None, str | None]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[start : start + _ID_CHUNK]
                rows = conn.execute(
                    select(_RAW.c.resource_id, _RAW.c.version_id, _RAW.c.last_updated).where(
                        tuple_(_RAW.c.resource_type, _RAW.c.resource_id).in_(
                            [(resource_type, i) for i in chunk]
                        )
                    )
                )
                found.update({rid: (vid, updated) for rid, vid, updated in rows})
        return found

    def stored_versions(self) -> set[tuple[str, str, str | None]]:
        """Every (type, id, versionId) in the store (tests and operators compare syncs with it)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_RAW.c.resource_type, _RAW.c.resource_id, _RAW.c.version_id))
            return {(t, i, v) for t, i, v in rows}

    # ---- Bulk Data jobs -----------------------------------------------------------------
    def export_job(self, source: str) -> BulkExport | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_EXPORT).where(_EXPORT.c.source == source)).mappings().first()
            return None if row is None else BulkExport(**row)

    def export_started(
        self, source: str, status_url: str, since: str | None, now: datetime
    ) -> None:
        """Save a kicked-off job before the first poll (cumulus-etl: persist, then resume)."""
        row = {
            "source": source,
            "status_url": status_url,
            "since": since,
            "manifest": None,
            "files_done": "[]",
            "kicked_off_at": now,
            "updated_at": now,
        }
        stmt = upsert(self.engine, _EXPORT)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source"], set_={k: stmt.excluded[k] for k in row if k != "source"}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [row])

    def export_manifest(self, source: str, manifest: bytes, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                _EXPORT.update()
                .where(_EXPORT.c.source == source)
                .values(manifest=manifest.decode(), updated_at=now)
            )

    def export_file_done(self, source: str, url: str, now: datetime) -> None:
        """Record one output file as committed (call after its resources are committed)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(_EXPORT.c.files_done).where(_EXPORT.c.source == source)
            ).first()
            if row is None:
                return
            done = set(orjson.loads(row[0] or "[]"))
            done.add(url)
            conn.execute(
                _EXPORT.update()
                .where(_EXPORT.c.source == source)
                .values(files_done=orjson.dumps(sorted(done)).decode(), updated_at=now)
            )

    def export_finished(self, source: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_EXPORT).where(_EXPORT.c.source == source))
