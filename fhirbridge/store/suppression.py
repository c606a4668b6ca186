"""Store: clinicians' acknowledgements and overrides of findings, for suppression.

`record_acknowledgement` is what the API calls when a clinician acknowledges or overrides a
finding (by its key, with who, when and why); the finding's current evidence is kept with it,
so a new screen or ECG raises the finding again (reconciliation/suppression.py). CDS Hooks
feedback that overrode a card (table cds_feedback, card uuid = finding key) counts too, by key
only: the card's evidence is not known there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from fhirbridge.reconciliation.suppression import Acknowledgement
from fhirbridge.store.repository import SqlStore
from fhirbridge.store.tables import CdsFeedback, FindingAcknowledgement, FindingRecord

KINDS = ("acknowledged", "overridden")


def record_acknowledgement(
    store: SqlStore,
    key: str,
    *,
    by: str,
    at: datetime,
    reason: str,
    kind: str = "acknowledged",
) -> Acknowledgement:
    """Record that `by` acknowledged (or overrode) the finding `key` at `at`, and why.

    Raises:
        ValueError: an unknown kind, or no one named as `by`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not by.strip():
        raise ValueError("an acknowledgement names who made it")
    with Session(store.engine) as session:
        finding = session.get(FindingRecord, key)
        body = json.loads(finding.body) if finding is not None else None
        evidence = tuple(body.get("evidence") or ()) if body is not None else None
        session.add(
            FindingAcknowledgement(
                finding_key=key,
                patient_id=finding.patient_id if finding is not None else None,
                rule=finding.rule if finding is not None else None,
                kind=kind,
                acknowledged_by=by[:200],
                acknowledged_at=at,
                reason=reason,
                evidence=json.dumps(list(evidence)) if evidence is not None else None,
            )
        )
        session.commit()
    return Acknowledgement(key=key, kind=kind, by=by, at=at, reason=reason, evidence=evidence)


def acknowledgements(
    store: SqlStore, keys: Iterable[str] | None = None
) -> dict[str, Acknowledgement]:
    """The latest acknowledgement of each of these finding keys (recorded or CDS override);
    of every acknowledged key when `keys` is None.

    A run asks about every finding it found (140,000 at 100,000 patients), while clinicians
    acknowledge a few: when a table holds fewer rows than there are keys, reading it whole and
    filtering here costs one query instead of one per 500 keys (0.5 s there, bench/analyze.py).
    The analyze stage reads them all before its findings arrive (services.py).
    """
    wanted = set(keys) if keys is not None else None
    found: dict[str, Acknowledgement] = {}
    if wanted is not None and not wanted:
        return found
    with Session(store.engine) as session:
        for row in _rows_for(session, FindingAcknowledgement, wanted):
            _keep_latest(
                found,
                Acknowledgement(
                    key=row.finding_key,
                    kind=row.kind,
                    by=row.acknowledged_by,
                    at=row.acknowledged_at,
                    reason=row.reason,
                    evidence=tuple(json.loads(row.evidence)) if row.evidence is not None else None,
                ),
            )
        for fb in _rows_for(session, CdsFeedback, wanted, CdsFeedback.outcome == "overridden"):
            _keep_latest(
                found,
                Acknowledgement(
                    key=fb.finding_key or "",
                    kind="overridden",
                    by=f"cds-hooks:{fb.service}",
                    at=fb.received_at,
                    reason=fb.override_reason or "",
                ),
            )
    return found


Row = TypeVar("Row", FindingAcknowledgement, CdsFeedback)


def _rows_for(session: Session, table: type[Row], keys: set[str] | None, *where: Any) -> list[Row]:
    """Rows of `table` whose finding_key is one of `keys` (None: any) and that match `where`."""
    column = col(table.finding_key)
    if keys is None:
        return list(session.exec(select(table).where(column.is_not(None), *where)))
    held = session.exec(select(func.count()).select_from(table).where(*where)).one()
    if held <= len(keys):
        rows = session.exec(select(table).where(column.is_not(None), *where))
        return [row for row in rows if row.finding_key in keys]
    chosen = sorted(keys)
    found: list[Row] = []
    for start in range(0, len(chosen), 500):  # bounded IN lists
        chunk = chosen[start : start + 500]
        found.extend(session.exec(select(table).where(column.in_(chunk), *where)))
    return found


def _keep_latest(found: dict[str, Acknowledgement], ack: Acknowledgement) -> None:
    previous = found.get(ack.key)
    if previous is None or _naive(ack.at) >= _naive(previous.at):
        found[ack.key] = ack


def _naive(at: datetime) -> datetime:
    """Compare stored times whether or not the database kept their timezone (SQLite drops it)."""
    return at.replace(tzinfo=None) if at.tzinfo is not None else at
