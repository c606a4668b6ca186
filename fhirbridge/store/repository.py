"""Store: the repository fhirbridge's services use. Verbs per use case; returns dicts and records.

Bulk writes go through dialect `INSERT ... ON CONFLICT` executemany, not ORM unit-of-work
objects (performance-anchors.md section 3: about 10x faster); SQLModel stays the schema and the
query layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, Table, func, or_, select, update
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as model_select

from fhirbridge.findings import Finding
from fhirbridge.store.engine import fetch_all, upsert
from fhirbridge.store.finding_recorder import FindingRecorder, recording_findings
from fhirbridge.store.stored_records import forget_patients
from fhirbridge.store.tables import DeadLetter, FindingRecord, LedgerEntry, RawResource, Run

_RAW: Table = SQLModel.metadata.tables[RawResource.__tablename__]
_DEAD: Table = SQLModel.metadata.tables[DeadLetter.__tablename__]
_FINDING: Table = SQLModel.metadata.tables[FindingRecord.__tablename__]
_LEDGER: Table = SQLModel.metadata.tables[LedgerEntry.__tablename__]


class SqlStore:
    """Repository over one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- runs ---------------------------------------------------------------------------
    def start_run(self, command: str, source: str | None, as_of: date | None, now: datetime) -> int:
        with Session(self.engine) as session:
            run = Run(command=command, source=source, as_of=as_of, started_at=now)
            session.add(run)
            session.commit()
            assert run.id is not None  # noqa: S101  (set by the database on commit)
            return run.id

    def finish_run(
        self, run_id: int, status: str, report: Mapping[str, Any], now: datetime
    ) -> None:
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return
            run.status, run.finished_at = status, now
            run.report = orjson.dumps(report).decode()
            session.add(run)
            session.commit()

    def runs(self, limit: int = 20) -> list[Run]:
        with Session(self.engine) as session:
            query = model_select(Run).order_by(col(Run.id).desc()).limit(limit)
            rows = list(session.exec(query))
            for row in rows:
                session.expunge(row)
            return rows

    # ---- raw resources ------------------------------------------------------------------
    def put_resources(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upsert raw resources by (type, id); a row older than the stored one is ignored."""
        if not rows:
            return
        latest = {
            (r["resource_type"], r["resource_id"]): r for r in rows
        }  # one per key per statement
        stmt = upsert(self.engine, _RAW)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["resource_type", "resource_id"],
            set_={
                c: excluded[c]
                for c in ("version_id", "last_updated", "patient_id", "source", "run_id", "body")
            },
            where=or_(
                _RAW.c.last_updated.is_(None),
                excluded.last_updated.is_(None),
                _RAW.c.last_updated <= excluded.last_updated,
            ),
        )
        with self.engine.begin() as conn:
            # Their patients' stored mapped records are out of date now (stored_records.py).
            patients = {r["patient_id"] for r in latest.values() if r.get("patient_id")}
            forget_patients(conn, latest.keys(), patients)
            conn.execute(stmt, list(latest.values()))

    def put_dead_letters(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Keep unusable input with its reason; the same input and reason is kept once."""
        if not rows:
            return
        stmt = upsert(self.engine, _DEAD).on_conflict_do_nothing(
            index_elements=["fingerprint", "reason"]
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, list(rows))

    def dead_letters(self) -> list[DeadLetter]:
        with Session(self.engine) as session:
            rows = list(session.exec(model_select(DeadLetter).order_by(col(DeadLetter.id))))
            for row in rows:
                session.expunge(row)
            return rows

    def count_resources(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_RAW.c.resource_type, func.count()).group_by(_RAW.c.resource_type)
            )
            return {t: n for t, n in rows}

    def resources_of_type(self, resource_type: str) -> Iterator[dict[str, Any]]:
        """Every stored resource of one type, parsed (Medication, PractitionerRole: context)."""
        with self.engine.connect() as conn:
            result = conn.execute(select(_RAW.c.body).where(_RAW.c.resource_type == resource_type))
            for (body,) in result:
                yield orjson.loads(body)

    def resources_by_patient(
        self, types: Iterable[str], patients: Iterable[str] | None = None
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """(patient, resources) for each patient with resources of the given types, streamed.

        Rows come ordered by patient and are parsed one patient at a time, so memory holds one
        patient's resources, not the store (performance-anchors.md: large live heaps slow parsing).
        """
        # Filtered on the patient column alone, so SQLite reads along the patient index: with
        # a type filter too it picks the (type, id) key, reads every row of those types and
        # sorts them (1.3M rows: 2 s for one batch of 1,000 patients, against 0.07 s;
        # bench/README.md). Types are filtered below; type and id order per patient restored.
        wanted = frozenset(types)
        query = select(
            _RAW.c.patient_id, _RAW.c.resource_type, _RAW.c.resource_id, _RAW.c.body
        ).order_by(_RAW.c.patient_id)
        if patients is not None:
            query = query.where(_RAW.c.patient_id.in_(list(patients)))
        else:
            query = query.where(_RAW.c.patient_id.is_not(None))
        current: str | None = None
        rows: list[tuple[str, str, bytes]] = []
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
            for patient, rtype, rid, body in result:
                if rtype not in wanted:
                    continue
                if patient != current:
                    if current is not None:
                        yield current, _parsed(rows)
                    current, rows = patient, []
                rows.append((rtype, rid, body))
        if current is not None:
            yield current, _parsed(rows)

    def patient_ids(self) -> list[str]:
        query = (
            select(_RAW.c.resource_id)
            .where(_RAW.c.resource_type == "Patient")
            .order_by(_RAW.c.resource_id)
        )
        with self.engine.connect() as conn:
            return [f"Patient/{r}" for (r,) in fetch_all(conn, query)]

    # ---- findings -----------------------------------------------------------------------
    def record_findings(
        self, findings: Sequence[Finding], as_of: date, patients: Iterable[str] | None = None
    ) -> list[FindingRecord]:
        """Open or refresh these findings; resolve open findings of the same patients not found now.

        Args:
            patients: the patients that were analyzed (default: those of `findings`); only
                their findings can be resolved, so a partial run resolves nothing else.

        Returns:
            The findings resolved by this call.
        """
        scope = set(patients) if patients is not None else {f.patient for f in findings}
        with recording_findings(self.engine, as_of, scope) as recorder:
            recorder.add(findings)
        return self.findings_by_key(recorder.resolved)

    def recording_findings(
        self, as_of: date, patients: Iterable[str]
    ) -> AbstractContextManager[FindingRecorder]:
        """A transaction recording one run's findings part by part (store/finding_recorder.py);
        open findings of `patients` not recorded in it are resolved when it ends."""
        return recording_findings(self.engine, as_of, set(patients))

    def findings_by_key(self, keys: Sequence[str]) -> list[FindingRecord]:
        """The stored findings with these keys, by key."""
        if not keys:
            return []
        found: list[FindingRecord] = []
        with Session(self.engine) as session:
            for start in range(0, len(keys), 500):  # bounded IN lists
                chunk = keys[start : start + 500]
                query = model_select(FindingRecord).where(col(FindingRecord.key).in_(chunk))
                found.extend(session.exec(query))
            for row in found:
                session.expunge(row)
        return sorted(found, key=lambda r: r.key)

    def findings(
        self, *, status: str | None = None, patient: str | None = None
    ) -> list[FindingRecord]:
        with Session(self.engine) as session:
            query = model_select(FindingRecord)
            if status:
                query = query.where(FindingRecord.status == status)
            if patient:
                query = query.where(FindingRecord.patient_id == patient)
            order = (col(FindingRecord.patient_id), col(FindingRecord.key))
            rows = list(session.exec(query.order_by(*order)))
            for row in rows:
                session.expunge(row)
            return rows

    # ---- write-back ledger --------------------------------------------------------------
    def ledger_get(self, target: str, resource_type: str, identifier: str) -> LedgerEntry | None:
        with Session(self.engine) as session:
            query = model_select(LedgerEntry).where(
                LedgerEntry.target == target,
                LedgerEntry.resource_type == resource_type,
                LedgerEntry.identifier == identifier,
            )
            row = session.exec(query).first()
            if row is not None:
                session.expunge(row)
            return row

    def ledger_put(self, entry: LedgerEntry) -> None:
        """Insert or update the ledger row for (target, type, identifier)."""
        values = entry.model_dump(exclude={"id"})
        stmt = upsert(self.engine, _LEDGER)
        keys = ("target", "resource_type", "identifier")
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={k: stmt.excluded[k] for k in values if k not in keys},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [values])

    def ledger(self, target: str | None = None) -> list[LedgerEntry]:
        with Session(self.engine) as session:
            query = model_select(LedgerEntry).order_by(col(LedgerEntry.id))
            if target:
                query = query.where(LedgerEntry.target == target)
            rows = list(session.exec(query))
            for row in rows:
                session.expunge(row)
            return rows

    def mark_finding_status(self, key: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(_FINDING).where(_FINDING.c.key == key).values(status=status))


def _parsed(rows: list[tuple[str, str, bytes]]) -> list[dict[str, Any]]:
    """One patient's bodies parsed, in resource type then id order (a deterministic order)."""
    rows.sort(key=lambda row: (row[0], row[1]))
    return [orjson.loads(body) for _, _, body in rows]
