"""Services: the use cases (sync, analyze, write back, run), wired by bootstrap.py.

The CLI and the API call these; they call the pure stages and the store. The clock is injected
(`now`), and `as_of` always comes from the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from fhirbridge import examples
from fhirbridge.adherence import Timeline, build_timeline, resolve_supply
from fhirbridge.analysis import PatientAnalysis, analyze_patient
from fhirbridge.analyze_stage import (
    AnalyzeResult,
    StageInput,
    analyze_stored,
    no_cycle_collection,
)
from fhirbridge.errors import SourceError
from fhirbridge.findings import Finding
from fhirbridge.mappers import (
    MAPPERS,
    MappingContext,
    RoleTable,
    Terminology,
    prescribers_from,
)
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.reconciliation import split_suppressed
from fhirbridge.records import PatientRecords, Prescriber
from fhirbridge.settings import Settings
from fhirbridge.store import SqlStore
from fhirbridge.store.suppression import acknowledgements
from fhirbridge.stored_mapping import keep_mapped, mapping_generation
from fhirbridge.sync import FhirClient, Ingest, IngestCounts, SourceItem, read_files
from fhirbridge.sync.connections import open_client
from fhirbridge.sync.connections import pull_all as pull_connections
from fhirbridge.sync.connections import resolve as resolve_connections
from fhirbridge.sync.items import Received

log = logging.getLogger(__name__)
T = TypeVar("T")

Progress = Callable[[str, int], None]  # (stage, items done so far)


def _no_progress(_stage: str, _done: int) -> None:
    return None


@dataclass(slots=True)
class Services:
    settings: Settings
    store: SqlStore
    terminology: Terminology
    roles: RoleTable
    now: Callable[[], datetime]
    client_factory: Callable[[str], FhirClient] = FhirClient
    # TEST ONLY: called after the server accepted a write-back, before the ledger records it
    # (bootstrap.py wires FHIRBRIDGE_TEST_CRASH_AFTER_WRITE; writeback.crash_after_write).
    writeback_hook: Callable[[Any], None] | None = None

    def close(self) -> None:
        """Release database connections (the CLI calls this when a command ends)."""
        self.store.engine.dispose()

    # ---- sync ---------------------------------------------------------------------------
    def open_source(self, source: str | None, as_of: date) -> tuple[Iterator[SourceItem], str]:
        """Items of a file source (or the example data), and a label for it safe to log.

        FHIR servers are pulled through connections (sync/connections.py), not here.

        Raises:
            SourceError: a path that does not exist or holds no FHIR files.
        """
        if source is None:
            shift = (as_of - examples.REFERENCE_DATE).days
            return _rebased(read_files(examples.DATA_DIR), shift), "example data"
        if "://" in source:
            raise SourceError(f"unsupported source scheme: {source.split('://', 1)[0]}://")
        path = Path(source)
        if not path.exists():
            raise SourceError(f"source not found: {path}")
        return read_files(path), str(path)

    def source_url(self, source: str | None) -> str | None:
        """A connection name as its base URL (write-back goes there); anything else unchanged."""
        named = [c for c in self.settings.connections if c.name == source]
        return named[0].base_url if named else source

    def client_for(self, base_url: str) -> FhirClient:
        """A client for `base_url`, with the SMART Backend Services auth of the configured
        connection it belongs to; a plain one (`client_factory`) otherwise."""
        for connection in resolve_connections(self.settings.connections, base_url) or ():
            if connection.auth != "none":
                return open_client(connection)
        return self.client_factory(base_url)

    def sync(
        self, source: str | None, as_of: date, run_id: int | None, progress: Progress = _no_progress
    ) -> IngestCounts:
        # A connection name, a base URL, or every configured connection: incremental pulls with
        # cursors (fhirbridge.sync.connections); a path or the example data: read as files.
        connections = resolve_connections(self.settings.connections, source)
        if connections is not None:
            ctx = MappingContext(terminology=self.terminology)
            counts = pull_connections(
                connections, self.store, ctx, run_id=run_id, now=self.now, progress=progress
            )
            self.keep_mapped(run_id, progress)  # what arrived, mapped once for every analysis
            return counts
        items, label = self.open_source(source, as_of)
        ingest = Ingest(
            self.store,
            MappingContext(terminology=self.terminology),
            source=label,
            run_id=run_id,
            now=self.now(),
        )
        for count, item in enumerate(items, start=1):
            ingest.add(item)
            if count % 5000 == 0:
                progress("sync", count)
        ingest.flush()
        self.keep_mapped(run_id, progress)  # what arrived, mapped once for every analysis
        log.info(
            "sync from %s: %d read, %d dead-lettered",
            label,
            sum(ingest.counts.read.values()),
            ingest.counts.dead_lettered,
        )
        return ingest.counts

    # ---- analyze ------------------------------------------------------------------------
    def analyze(
        self, as_of: date, run_id: int | None, progress: Progress = _no_progress
    ) -> AnalyzeResult:
        ctx = self._mapping_context()
        generation = mapping_generation(self.terminology, ctx.medications)
        # Normally sync has mapped what it brought; this maps whatever is still not current.
        self._keep_mapped(ctx, generation, run_id, progress)
        job = StageInput(
            database_url=self.settings.database_url,
            generation=generation,
            as_of=as_of,
            params=self.settings.analysis,
            prescribers=self._prescribers(),
        )
        suppression = self.settings.analysis.suppression
        result = AnalyzeResult()
        with no_cycle_collection():  # the stage makes ~1 million acyclic objects
            analyzed, parts = analyze_stored(
                job, self.store.engine, self.settings.analysis_workers, progress
            )
            with closing(parts):  # the workers stop on any error from here on
                scope = set(analyzed) | set(self.store.patient_ids())
                # Read before recording starts (an in-memory database has one connection).
                acks = acknowledgements(self.store)
                raised: list[Finding] = []
                # Each part is recorded as it arrives, while the workers analyze the next.
                with self.store.recording_findings(as_of, scope) as recorder:
                    for part in parts:
                        # Findings a clinician acknowledged stay quiet until their inputs
                        # change; they still hold, so they are recorded (never resolved),
                        # marked suppressed and counted.
                        shown, held = split_suppressed(part.findings, acks, suppression)
                        recorder.add(part.findings, suppressed=(f.key for f in held))
                        result.merge(part)
                        raised.extend(shown)
                        result.suppressed.extend(held)
            result.findings = raised
            resolved_rows = self.store.findings_by_key(recorder.resolved)
        result.resolved = [Finding.from_line(r.body) for r in resolved_rows]
        return result

    def keep_mapped(self, run_id: int | None, progress: Progress = _no_progress) -> int:
        """Map and store the records of every patient whose stored mapping is not current."""
        ctx = self._mapping_context()
        return self._keep_mapped(
            ctx, mapping_generation(self.terminology, ctx.medications), run_id, progress
        )

    def _keep_mapped(
        self, ctx: MappingContext, generation: str, run_id: int | None, progress: Progress
    ) -> int:
        return keep_mapped(
            self.store,
            ctx,
            generation,
            run_id=run_id,
            now=self.now,
            progress=progress,
            database_url=self.settings.database_url,
            workers=self.settings.analysis_workers,
        )

    def timeline(self, patient: str, as_of: date) -> Timeline | None:
        """One patient's medication timeline from the store (API); None if the store has none."""
        records = self._stored_records(patient)
        if records is None:
            return None
        return build_timeline(
            resolve_supply(records),
            as_of=as_of,
            window_days=self.settings.analysis.adherence.window_days,
        )

    def patient_analysis(self, patient: str, as_of: date) -> PatientAnalysis | None:
        """One patient's analysis from the store, on demand (API); None if the store has none."""
        records = self._stored_records(patient)
        if records is None:
            return None
        return analyze_patient(records, as_of=as_of, params=self.settings.analysis)

    def _mapping_context(self) -> MappingContext:
        """Terminology plus the stored Medications that medicationReference may point to."""
        return MappingContext(
            terminology=self.terminology,
            medications={
                f"Medication/{m.get('id')}": m for m in self.store.resources_of_type("Medication")
            },
        )

    def _stored_records(self, patient: str) -> PatientRecords | None:
        """One patient's records from the store, mapped as a run maps them."""
        for found, resources in self.store.resources_by_patient(MAPPERS, patients=[patient]):
            if found == patient:
                records, _ = to_patient_records(
                    patient, resources, self._mapping_context(), self._prescribers()
                )
                return records
        return None

    def _prescribers(self) -> dict[str, Prescriber]:
        """Prescribers by Practitioner or PractitionerRole ref, with their coordination role
        (specialty, else the integrator's mappings: mappers/prescriber.py)."""
        return prescribers_from(
            self.store.resources_of_type("PractitionerRole"),
            self.store.resources_of_type("Practitioner"),
            self.roles,
        )


def _rebased(items: Iterator[SourceItem], days: int) -> Iterator[SourceItem]:
    """Shift the example data's dates so its reference date falls on the chosen as-of date."""
    for item in items:
        if days and isinstance(item, Received):
            yield Received(
                resource=examples.rebase(item.resource, days), raw=None, location=item.location
            )
        else:
            yield item


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """fn's value and how long it took, in seconds (for run-report.json durations)."""
    start = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - start, 3)
