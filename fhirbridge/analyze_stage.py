"""The analyze stage over the stored mapped records, in one process or split across several.

Patients are independent, so the patients (in id order) are cut into contiguous chunks that
worker processes analyze; the parts are merged in chunk order, so the result is the same as one
process's, in the same order. Processes are started only when there are enough patients to pay
for their start (bench/README.md).
"""

from __future__ import annotations

import gc
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import Any

from fhirbridge.adherence import Measure
from fhirbridge.analysis import (
    AnalysisParams,
    PatientAnalysis,
    Rule,
    analyze_patient,
    rule_plan,
    rules_to_run,
)
from fhirbridge.findings import Finding
from fhirbridge.mappers.compact import Decoder
from fhirbridge.mappers.patient_records import Skip
from fhirbridge.records import EventKind, PatientRecords, Prescriber
from fhirbridge.rule_needs import profile_from_text
from fhirbridge.stage_transfer import Packed, pack, unpack
from fhirbridge.store import make_engine
from fhirbridge.store.stored_records import read_stored_records, stored_patients

PARALLEL_FROM = 5000  # patients: below this, starting processes costs more than it saves
MAX_WORKERS = 8
CHUNKS_PER_WORKER = 8  # 100,000 patients on 2 workers: chunks of 6,250


# The resource type each kind of event is mapped from (mappers/__init__.py MAPPERS).
_RESOURCE_TYPE = {
    EventKind.ORDER: "MedicationRequest",
    EventKind.DISPENSE: "MedicationDispense",
    EventKind.STATEMENT: "MedicationStatement",
}


@dataclass(slots=True)
class AnalyzeResult:
    findings: list[Finding] = field(default_factory=list)
    adherence: list[Measure] = field(default_factory=list)  # PDC and AMM lines
    resolved: list[Finding] = field(default_factory=list)
    patients: int = 0
    mapped: Counter[str] = field(default_factory=Counter)  # by resource type
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    dead_lettered: int = 0
    unmapped_medications: Counter[str] = field(default_factory=Counter)  # by code or text
    suppressed: list[Finding] = field(default_factory=list)  # acknowledged, inputs unchanged
    imputed: Counter[str] = field(default_factory=Counter)  # days supplies from defaults, by basis
    processes: int = 1  # how many processes analyzed

    def as_report(self) -> dict[str, Any]:
        return {
            "patients_analyzed": self.patients,
            "mapped": dict(sorted(self.mapped.items())),
            "skipped_at_analysis": dict(sorted(self.skipped.items())),
            "dead_lettered_at_analysis": self.dead_lettered,
            "unmapped_medications": dict(self.unmapped_medications.most_common(50)),
            "findings": dict(sorted(Counter(f.rule for f in self.findings).items())),
            "findings_by_severity": dict(
                sorted(Counter(f.severity.value for f in self.findings).items())
            ),
            "findings_resolved": len(self.resolved),
            "findings_suppressed": dict(sorted(Counter(f.rule for f in self.suppressed).items())),
            "adherence_results": len(self.adherence),
            "imputed_days_supply": dict(sorted(self.imputed.items())),
            "processes": self.processes,
        }

    def add(self, records: PatientRecords, skips: list[Skip], analysis: PatientAnalysis) -> None:
        """Count one analyzed patient in: findings, measures and the run report's counters."""
        self.patients += 1
        self.findings.extend(analysis.findings)
        self.adherence.extend(analysis.adherence)
        mapped = self.mapped
        for event in records.events:
            mapped[_RESOURCE_TYPE[event.kind]] += 1
            if not event.drug.ingredients:  # Drug.known
                label = " ".join(x for x in (event.drug.code, event.drug.display) if x)
                self.unmapped_medications[label or "(no code or text)"] += 1
        # A panel's components are records of their own under the panel's reference.
        mapped["Observation"] += len({o.ref for o in records.observations})
        mapped["Condition"] += len(records.conditions)
        if records.stays:
            mapped["Encounter"] += len(records.stays)
        if analysis.imputed:
            self.imputed.update(basis for _, basis in analysis.imputed)
        for skip in skips:
            self.skipped[f"{skip.ref.split('/', 1)[0]} {skip.reason}"] += 1
            # Kept in the dead-letter table when the records were mapped (stored_mapping.py).
            self.dead_lettered += skip.dead_letter
        for ref, reason in analysis.skipped:
            self.skipped[f"{ref.split('/', 1)[0]} fill {reason}"] += 1

    def merge(self, other: AnalyzeResult) -> None:
        """Append another range's result (ranges are merged in patient order)."""
        self.findings.extend(other.findings)
        self.adherence.extend(other.adherence)
        self.patients += other.patients
        self.mapped.update(other.mapped)
        self.skipped.update(other.skipped)
        self.dead_lettered += other.dead_lettered
        self.unmapped_medications.update(other.unmapped_medications)
        self.imputed.update(other.imputed)
        self.processes = max(self.processes, other.processes)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageInput:
    """What every process needs: plain values, so it crosses a process boundary."""

    database_url: str
    generation: str
    as_of: date
    params: AnalysisParams
    prescribers: Mapping[str, Prescriber]


def analyze_range(
    job: StageInput,
    first: str | None = None,
    stop: str | None = None,
    engine: Any = None,
    progress: Callable[[str, int], None] | None = None,
) -> AnalyzeResult:
    """Analyze the stored records of the patients in [first, stop) (None: unbounded).

    `progress` hears this process's count every 1,000 patients.
    """
    own = engine is None
    engine = make_engine(job.database_url) if own else engine
    result = AnalyzeResult()
    decoder = Decoder()
    plan = rule_plan(job.params)
    # The rule profile kept with each patient's records (stored_mapping.py) names no patient,
    # so many patients share one: each distinct one is read, and its rules chosen, once.
    chosen: dict[str, tuple[Rule, ...]] = {}
    try:
        with no_cycle_collection():
            for patient, body in read_stored_records(engine, job.generation, first, stop):
                records, skips, kept = decoder.decode_parts(patient, body, job.prescribers)
                # Records stored without a profile (none are, in this format) get theirs
                # worked out by analyze_patient.
                rules = chosen.get(kept) if kept is not None else None
                if rules is None and kept is not None:
                    profile = profile_from_text(kept)
                    rules = chosen[kept] = rules_to_run(plan, profile, job.params)
                analysis = analyze_patient(records, as_of=job.as_of, params=job.params, rules=rules)
                result.add(records, skips, analysis)
                if progress is not None and result.patients % 1000 == 0:
                    progress("analyze", result.patients)
    finally:
        if own:
            engine.dispose()
    return result


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cycle collector off for the block, then as it was.

    Records, findings and measures are frozen dataclasses without reference cycles, freed by
    reference counting. With the collector on, every few hundred new objects it walks the young
    ones and, as the result grows, the whole heap again: packing 50,000 patients' findings and
    measures for the way back took 0.71 s with it and 0.10 s without, unpickling and rebuilding
    them 0.83 against 0.29 s, and the analysis loop itself ran about 5% slower (timed on the
    project's VM, bench/analyze.py sizes).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            # What the block made and kept is long-lived (a stage's results): moved straight to
            # the oldest generation (freeze, then unfreeze), the first young collection after
            # the block does not walk it all (0.27 s after a 100,000-patient stage). It is
            # still collected with the oldest generation, as anything long-lived is.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _analyze_packed(
    job: StageInput, first: str | None, stop: str | None
) -> tuple[AnalyzeResult, Packed, Packed]:
    """analyze_range in another process; findings and measures packed for the way back."""
    with no_cycle_collection():
        result = analyze_range(job, first, stop)
        findings, measures = pack(result.findings), pack(result.adherence)
        result.findings, result.adherence = [], []
    # The pool pickles what this returns with the collector on again: few objects, a few
    # large lists of tuples of strings and numbers.
    return result, findings, measures


def start_context() -> BaseContext:
    """`fork` from a single-threaded process (the CLI): the children start at once with the
    modules loaded; `spawn` from a threaded one (the API server), where forking is unsafe.
    Spawned children import fhirbridge first (about 1.5 s here). A forked child never touches
    the parent's connections: it opens its own engine (analyze_range)."""
    if threading.active_count() == 1 and "fork" in get_all_start_methods():
        return get_context("fork")
    return get_context("spawn")


def worker_count(configured: int, patients: int, database_url: str) -> int:
    """Processes to use: `configured` (0: one per CPU, at most MAX_WORKERS), and one for a
    small run or an in-memory database (which other processes cannot open)."""
    if patients < PARALLEL_FROM or database_url in ("sqlite://", "sqlite:///:memory:"):
        return 1
    return max(1, configured or min(os.cpu_count() or 1, MAX_WORKERS))


def analyze_stored(
    job: StageInput,
    engine: Any,
    workers: int,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[list[str], StageParts]:
    """The patients with stored records of the job's generation, and their results in parts,
    in patient order, for the caller to record while the rest are analyzed.

    In one process the one part is complete before it is handed over (an in-memory database
    has one connection, which the caller's recording then uses). With several, the patients are
    cut into CHUNKS_PER_WORKER contiguous chunks per worker process, started here, and this
    process only collects: a worker that is done takes the next chunk, so the CPUs stay busy to
    the end, and each chunk's results travel while the others are analyzed (bench/README.md).
    `progress` hears the patients done so far, once per chunk.
    """
    patients = stored_patients(engine, job.generation)
    workers = worker_count(workers, len(patients), job.database_url)
    if workers == 1:
        return patients, StageParts(analyze_range(job, engine=engine, progress=progress))
    size = -(-len(patients) // (workers * CHUNKS_PER_WORKER))
    bounds = [patients[i] for i in range(0, len(patients), size)][1:]
    chunks = list(zip([None, *bounds], [*bounds, None], strict=True))
    # Objects that exist now are never collected by a forked child: without this, the child's
    # garbage collector would touch (and so copy) every page of the parent's heap. The workers
    # start now, before the caller opens its recording transaction.
    gc.freeze()
    pool = ProcessPoolExecutor(workers, mp_context=start_context())
    try:
        parts = [pool.submit(_analyze_packed, job, *chunk) for chunk in chunks]
    except BaseException:
        pool.shutdown(cancel_futures=True)
        gc.unfreeze()
        raise
    return patients, StageParts(None, pool, parts, workers, progress)


class StageParts:
    """The stage's results in parts, in patient order: iterate once, then (or instead) close.

    `close()` shuts the worker pool down, cancelling chunks not yet started, whether or not
    the parts were iterated: the caller closes it (`contextlib.closing`) so that an error
    between starting the workers and collecting them leaves no pool behind.
    """

    def __init__(
        self,
        done: AnalyzeResult | None = None,
        pool: ProcessPoolExecutor | None = None,
        futures: Sequence[Future[tuple[AnalyzeResult, Packed, Packed]]] = (),
        workers: int = 1,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self._done, self._pool, self._futures = done, pool, futures
        self._workers, self._progress = workers, progress

    def __iter__(self) -> Iterator[AnalyzeResult]:
        if self._done is not None:
            yield self._done
        count = 0
        # The collector is off while the results arrive: the pool's thread unpickles them in
        # this process (no_cycle_collection).
        with no_cycle_collection():
            for future in self._futures:
                part, findings, measures = future.result()
                part.findings, part.adherence = unpack(findings), unpack(measures)
                part.processes = self._workers
                count += part.patients
                if self._progress is not None:
                    self._progress("analyze", count)
                yield part
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
            gc.unfreeze()
