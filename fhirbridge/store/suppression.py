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

from sqlalchemy import update
from sqlmodel import Session, col, select

from fhirbridge.reconciliation.suppression import Acknowledgement
from fhirbridge.store.repository import SqlStore
from fhirbridge.store.tables import CdsFeedback, FindingAcknowledgement, FindingRecord

KINDS = ("acknowledged", "overridden")
SUPPRESSED = "suppressed"  # finding.status of a finding that holds but is not raised


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


def acknowledgements(store: SqlStore, keys: Iterable[str]) -> dict[str, Acknowledgement]:
    """The latest acknowledgement of each of these finding keys (recorded or CDS override)."""
    wanted = sorted(set(keys))
    found: dict[str, Acknowledgement] = {}
    with Session(store.engine) as session:
        for start in range(0, len(wanted), 500):  # bounded IN lists
            chunk = wanted[start : start + 500]
            rows = session.exec(
                select(FindingAcknowledgement).where(
                    col(FindingAcknowledgement.finding_key).in_(chunk)
                )
            )
            for row in rows:
                _keep_latest(
                    found,
                    Acknowledgement(
                        key=row.finding_key,
                        kind=row.kind,
                        by=row.acknowledged_by,
                        at=row.acknowledged_at,
                        reason=row.reason,
                        evidence=tuple(json.loads(row.evidence))
                        if row.evidence is not None
                        else None,
                    ),
                )
            feedback = session.exec(
                select(CdsFeedback).where(
                    col(CdsFeedback.finding_key).in_(chunk), CdsFeedback.outcome == "overridden"
                )
            )
            for fb in feedback:
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


def mark_suppressed(store: SqlStore, keys: Iterable[str]) -> None:
    """Set these findings' status to `suppressed`: they hold, but are not raised or written."""
    chosen = sorted(set(keys))
    if not chosen:
        return
    with store.engine.begin() as conn:
        for start in range(0, len(chosen), 500):
            conn.execute(
                update(FindingRecord)
                .where(col(FindingRecord.key).in_(chosen[start : start + 500]))
                .values(status=SUPPRESSED)
            )


def _keep_latest(found: dict[str, Acknowledgement], ack: Acknowledgement) -> None:
    previous = found.get(ack.key)
    if previous is None or _naive(ack.at) >= _naive(previous.at):
        found[ack.key] = ack


def _naive(at: datetime) -> datetime:
    """Compare stored times whether or not the database kept their timezone (SQLite drops it)."""
    return at.replace(tzinfo=None) if at.tzinfo is not None else at
