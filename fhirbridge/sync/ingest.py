"""Sync: source items → the raw store, in batches, with unusable input dead-lettered.

The hot path of a bulk load (bench/ingest.py): orjson-parsed dicts, a structural check by the
pure mappers, rows written with one executemany per batch. Nothing here logs resource content.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhirbridge.errors import MappingError, NotApplicable
from fhirbridge.mappers import KNOWN_TYPES, MAPPERS, MappingContext, subject_ref
from fhirbridge.store import SqlStore
from fhirbridge.sync.items import Received, SourceItem, Unreadable

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestCounts:
    """What a sync read, stored, skipped and dead-lettered (run-report.json)."""

    read: Counter[str] = field(default_factory=Counter)  # by resource type
    stored: Counter[str] = field(default_factory=Counter)  # by resource type
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    dead_lettered: int = 0
    duplicates: Counter[str] = field(default_factory=Counter)  # same id+version as stored, by type
    # connection name → its pull: per type read/stored/duplicates/cursor, restarts, network
    # counts (requests, retries by kind, token fetches), or the $export job's figures.
    connections: dict[str, Any] = field(default_factory=dict)

    def as_report(self) -> dict[str, Any]:
        report = {
            "resources_read": dict(sorted(self.read.items())),
            "resources_stored": dict(sorted(self.stored.items())),
            "skipped_at_sync": dict(sorted(self.skipped.items())),
            "dead_lettered_at_sync": self.dead_lettered,
        }
        if self.duplicates:
            report["duplicates_at_sync"] = dict(sorted(self.duplicates.items()))
        if self.connections:
            report["sync_connections"] = self.connections
        return report


class Ingest:
    """Accumulates rows and flushes them to the store every `batch_size` items."""

    def __init__(
        self,
        store: SqlStore,
        ctx: MappingContext,
        *,
        source: str,
        run_id: int | None,
        now: datetime,
        batch_size: int = 5000,
    ) -> None:
        self.store, self.ctx, self.source, self.run_id, self.now = store, ctx, source, run_id, now
        self.batch_size = batch_size
        self.counts = IngestCounts()
        self._rows: list[dict[str, Any]] = []
        self._dead: list[dict[str, Any]] = []

    def add_all(self, items: Iterable[SourceItem]) -> IngestCounts:
        for item in items:
            self.add(item)
        self.flush()
        return self.counts

    def duplicate(self, resource_type: str) -> None:
        """Count a resource read again but not stored: the store holds that version already."""
        self.counts.read[resource_type] += 1
        self.counts.duplicates[resource_type] += 1

    def add(self, item: SourceItem) -> None:
        if isinstance(item, Unreadable):
            self.counts.read["(unreadable)"] += 1
            self._dead_letter(item.raw, item.location, None, None, item.reason)
            return
        self._add_resource(item)
        if len(self._rows) >= self.batch_size or len(self._dead) >= self.batch_size:
            self.flush()

    def _add_resource(self, item: Received) -> None:
        resource = item.resource
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not isinstance(rtype, str) or not rtype:
            self.counts.read["(no resourceType)"] += 1
            self._dead_letter(item.body(), item.location, None, None, "resourceType: missing")
            return
        self.counts.read[rtype] += 1
        if rtype not in KNOWN_TYPES:
            self.counts.skipped[f"type not used: {rtype}"] += 1
            return
        if not isinstance(rid, str) or not rid:
            self._dead_letter(item.body(), item.location, rtype, None, "id: missing")
            return
        mapper = MAPPERS.get(rtype)
        if mapper is not None:
            try:
                mapper(resource, self.ctx)
            except NotApplicable:
                pass  # valid FHIR that analysis ignores: stored, counted when analyzed
            except MappingError as exc:
                self._dead_letter(item.body(), item.location, rtype, rid, str(exc))
                return
        meta = resource.get("meta") or {}
        self._rows.append(
            {
                "resource_type": rtype,
                "resource_id": rid,
                "version_id": meta.get("versionId"),
                "last_updated": meta.get("lastUpdated"),
                "patient_id": f"Patient/{rid}" if rtype == "Patient" else subject_ref(resource),
                "source": self.source,
                "run_id": self.run_id,
                "body": item.body(),
            }
        )
        self.counts.stored[rtype] += 1

    def _dead_letter(
        self, raw: bytes, location: str, rtype: str | None, rid: str | None, reason: str
    ) -> None:
        self.counts.dead_lettered += 1
        self.counts.skipped[f"dead letter: {reason}"] += 1
        log.info("dead letter at %s (%s): %s", location, f"{rtype}/{rid}" if rtype else "?", reason)
        self._dead.append(
            {
                "fingerprint": hashlib.sha256(raw).hexdigest(),
                "run_id": self.run_id,
                "source": self.source,
                "location": location[-500:],
                "resource_type": rtype,
                "resource_id": rid,
                "reason": reason[:500],
                "body": raw,
                "created_at": self.now,
            }
        )

    def flush(self) -> None:
        self.store.put_resources(self._rows)
        self.store.put_dead_letters(self._dead)
        self._rows, self._dead = [], []
