"""Store: one run's findings recorded as they arrive, in one transaction.

The analyze stage hands its findings over in parts (analyze_stage.py: one per chunk of
patients, in patient order) while worker processes are still analyzing the next ones, so the
recording overlaps the analysis instead of following it. Within the transaction:
- at the start, every stored finding's key, patient and status is read once;
- each part opens new findings, reopens resolved ones found again (a new episode) and
  refreshes open ones, then marks the acknowledged ones `suppressed`;
- at the end, open findings of the scope that no part brought are resolved.

A failed run rolls the whole transaction back: no finding is half recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date

from sqlalchemy import Connection, Engine

from fhirbridge.findings import Finding
from fhirbridge.store.engine import driver_date, execute_rows

# Plain tuples through the driver's executemany, not ORM objects and not SQLAlchemy
# statements: a run over 100k patients records ~140k findings; the unit of work cost ~10 s
# there and the per-row parameter processing of Core statements 0.9 s (bench/analyze.py).
_INSERT = (
    "INSERT INTO finding (key, patient_id, rule, status, first_seen, last_seen, opened_on,"
    " resolved_on, body) VALUES (?, ?, ?, 'open', ?, ?, ?, NULL, ?)"
)
_REOPEN = (
    "UPDATE finding SET status = 'open', last_seen = ?, opened_on = ?, resolved_on = NULL,"
    " body = ? WHERE key = ?"
)
# Refreshed rows are open already (the only ones `add` refreshes): their status and
# resolved_on stay as they are, and an index holding the status need not change.
_REFRESH = "UPDATE finding SET last_seen = ?, body = ? WHERE key = ?"
# A finding that holds but is not raised (acknowledged: reconciliation/suppression.py).
_SUPPRESS = "UPDATE finding SET status = 'suppressed' WHERE key = ?"
_RESOLVE = "UPDATE finding SET status = 'resolved', resolved_on = ? WHERE key = ?"


class FindingRecorder:
    """Records the parts of one run inside an open transaction (`recording_findings`)."""

    def __init__(self, conn: Connection, as_of: date, scope: set[str]) -> None:
        self._conn = conn
        self._day = driver_date(conn, as_of)
        self._scope = scope
        # Every stored key: a key names its patient, so one of this run is in scope; the rest
        # are kept only so that no stored key is inserted again. Read from the driver's cursor
        # (the covering index ix_finding_state): 140,000 SQLAlchemy rows cost 0.5 s.
        cursor = conn.connection.cursor()
        try:
            cursor.execute("SELECT key, patient_id, status FROM finding")
            self._existing: dict[str, tuple[str, str]] = {
                key: (patient, status) for key, patient, status in cursor.fetchall()
            }
        finally:
            cursor.close()
        self._seen: set[str] = set()
        self.resolved: list[str] = []  # keys resolved at the end, sorted

    def add(self, findings: Sequence[Finding], suppressed: Iterable[str] = ()) -> None:
        """Open, reopen or refresh these findings; then mark `suppressed` (keys) as such."""
        day, existing = self._day, self._existing
        new_rows, reopened, refreshed = [], [], []
        for finding in findings:
            body = finding.line().decode()
            found = existing.get(finding.key)
            if found is None:
                opened = (finding.key, finding.patient, finding.rule, day, day, day)
                new_rows.append((*opened, body))
            elif found[1] != "open":  # found again: a new episode
                reopened.append((day, day, body, finding.key))
            else:
                refreshed.append((day, body, finding.key))
            self._seen.add(finding.key)
        execute_rows(self._conn, _INSERT, new_rows)
        execute_rows(self._conn, _REOPEN, reopened)
        execute_rows(self._conn, _REFRESH, refreshed)
        execute_rows(self._conn, _SUPPRESS, [(key,) for key in sorted(set(suppressed))])

    def finish(self) -> None:
        """Resolve the open findings of the scope that this run did not find."""
        scope, seen = self._scope, self._seen
        self.resolved = sorted(
            key
            for key, (patient, status) in self._existing.items()
            if status == "open" and patient in scope and key not in seen
        )
        execute_rows(self._conn, _RESOLVE, [(self._day, key) for key in self.resolved])


@contextmanager
def recording_findings(engine: Engine, as_of: date, scope: set[str]) -> Iterator[FindingRecorder]:
    """A recorder whose transaction commits, resolving what was not found, when the block ends
    without an error, and rolls back when it raises.

    Args:
        scope: the patients analyzed; only their findings can be resolved, so a partial run
            resolves nothing else.
    """
    with engine.begin() as conn:
        recorder = FindingRecorder(conn, as_of, scope)
        yield recorder
        recorder.finish()
