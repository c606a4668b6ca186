"""Ingest benchmark: NDJSON → parse → map → SQLite, fhirbridge against a baseline and fhirclient.

Three variants over the same generated NDJSON files (bench/generate_data.py), in one process
pinned to one core:

- baseline: read the files, `orjson.loads` each line, extract the indexed fields (type, id,
  versionId, lastUpdated, patient reference). No mapping, no store: the floor for any ingest.
- fhirbridge: the path `fhirbridge sync <dir>` runs (Services.sync): `fhirbridge.sync.read_files`
  → `Ingest(store, MappingContext(terminology), ...).add_all` → `SqlStore.put_resources`
  (INSERT ... ON CONFLICT executemany per 5,000 rows) into a SQLite file built like bootstrap.py.
- fhirclient: SMART's `fhirclient.models` (strict) per line, from the same orjson dicts; the same
  fields read from the model objects, the body from `as_json()`, written through the same
  `SqlStore.put_resources` in the same batches. Only the model layer differs from fhirbridge.

Each variant: one warm-up, then the median of --repeat timed runs, `gc.collect()` before each,
a fresh SQLite file per run (schema by Alembic, outside the timed part).

    python bench/ingest.py [--n 100000] [--repeat 3] [--fhirclient-n N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from importlib.metadata import version
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from fhirclient.models.fhirelementfactory import FHIRElementFactory  # type: ignore[import-untyped]
from generate_data import generate, validate_sample

from fhirbridge.mappers import MappingContext, Terminology, load_terminology
from fhirbridge.store import SqlStore, make_engine, upgrade
from fhirbridge.sync import Ingest, read_files, source_files

BATCH = 5000  # Ingest's default, and what Services.sync uses
TARGET_RATE = 20_000  # resources/s end to end into SQLite, one core
TARGET_RATIO = 5.0  # fhirbridge / fhirclient-based ingest
# The per-type classes: cheaper than FHIRElementFactory's if-chain, so fhirclient's best case.
FHIRCLIENT_MODELS: dict[str, Any] = {
    name: getattr(import_module(f"fhirclient.models.{name.lower()}"), name)
    for name in ("MedicationRequest", "MedicationDispense", "Observation")
}

Run = Callable[[], int]  # a timed body: returns the number of resources it handled
# Builds a fresh run in a scratch directory, with the store it writes to (checked afterwards).
Prepare = Callable[[Path], tuple[Run, SqlStore | None]]


@dataclass(frozen=True, slots=True)
class Result:
    variant: str
    resources: int
    seconds: float  # median wall time
    cpu: float  # median process CPU time
    spread: float  # (max - min) / median of the wall times

    @property
    def rate(self) -> float:
        return self.resources / self.seconds


# ---- the three variants -----------------------------------------------------------------------
def ndjson_lines(files: list[Path], limits: dict[Path, int] | None = None) -> Iterator[bytes]:
    """Non-blank lines of each file (the first `limits[file]` of them when a limit is given)."""
    for file in files:
        with file.open("rb") as handle:
            lines = handle if limits is None else islice(handle, limits[file])
            for line in lines:
                line = line.strip()
                if line:
                    yield line


def baseline(files: list[Path]) -> int:
    """orjson + field extraction into row tuples, batched like ingest, then dropped (no store)."""
    count, rows = 0, []
    for line in ndjson_lines(files):
        resource = orjson.loads(line)
        rtype, rid, meta = resource["resourceType"], resource["id"], resource.get("meta") or {}
        patient = (resource.get("subject") or {}).get("reference")
        rows.append((rtype, rid, meta.get("versionId"), meta.get("lastUpdated"), patient, line))
        if len(rows) >= BATCH:
            count, rows = count + len(rows), []
    return count + len(rows)


def fhirbridge_ingest(data: Path, store: SqlStore, terminology: Terminology) -> int:
    """What Services.sync does for a directory source (progress callback aside)."""
    ingest = Ingest(
        store,
        MappingContext(terminology=terminology),
        source=str(data),
        run_id=None,
        now=datetime.now(UTC),
        batch_size=BATCH,
    )
    counts = ingest.add_all(read_files(data))
    if counts.dead_lettered or counts.skipped:
        raise SystemExit(f"fhirbridge rejected input: {counts.as_report()}")
    return sum(counts.stored.values())


def fhirclient_ingest(
    files: list[Path], limits: dict[Path, int], store: SqlStore, source: str
) -> int:
    """The same rows as Ingest builds, but through fhirclient model objects."""
    count, rows = 0, []
    for line in ndjson_lines(files, limits):
        data = orjson.loads(line)
        rtype = data["resourceType"]
        model_class = FHIRCLIENT_MODELS.get(rtype)
        model = model_class(data) if model_class else FHIRElementFactory.instantiate(rtype, data)
        meta, subject = model.meta, getattr(model, "subject", None)
        rows.append(
            {
                "resource_type": model.resource_type,
                "resource_id": model.id,
                "version_id": meta.versionId if meta else None,
                "last_updated": meta.lastUpdated.as_json() if meta and meta.lastUpdated else None,
                "patient_id": subject.reference if subject else None,
                "source": source,
                "run_id": None,
                "body": orjson.dumps(model.as_json()),
            }
        )
        if len(rows) >= BATCH:
            store.put_resources(rows)
            count, rows = count + len(rows), []
    store.put_resources(rows)
    return count + len(rows)


# ---- harness ----------------------------------------------------------------------------------
def fresh_store(scratch: Path) -> SqlStore:
    """A new SQLite file with the current schema, built like fhirbridge/bootstrap.py."""
    engine = make_engine(f"sqlite:///{scratch / 'bench.db'}")
    upgrade(engine)
    return SqlStore(engine)


def stored(store: SqlStore) -> int:
    total = sum(store.count_resources().values())
    store.engine.dispose()
    return total


def measure(variant: str, prepare: Prepare, expected: int, repeat: int, work: Path) -> Result:
    """One warm-up and `repeat` timed runs, each in a fresh scratch directory."""
    walls, cpus = [], []
    for attempt in range(repeat + 1):
        scratch = work / f"{variant}-{attempt}"
        scratch.mkdir()
        run, store = prepare(scratch)
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        done = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if store is not None:  # count what actually reached the database, untimed
            done = stored(store)
        shutil.rmtree(scratch)
        if done != expected:
            raise SystemExit(f"{variant}: handled {done} resources, expected {expected}")
        if attempt:  # attempt 0 is the warm-up
            walls.append(wall)
            cpus.append(cpu)
    median = statistics.median(walls)
    return Result(
        variant, expected, median, statistics.median(cpus), (max(walls) - min(walls)) / median
    )


def pin_one_core(cpu: int | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    chosen = cpu if cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen} of {os.cpu_count()}"


def subset_limits(files: list[Path], n: int, subset: int) -> dict[Path, int]:
    """The first lines of each file, in the data's type mix, adding up to `subset`."""
    sizes = {f: sum(1 for _ in ndjson_lines([f])) for f in files}
    limits = {f: size * subset // n for f, size in sizes.items()}
    limits[files[-1]] += subset - sum(limits.values())
    return limits


def profile_fhirbridge(data: Path, terminology: Terminology, work: Path, top: int) -> None:
    scratch = work / "profile"
    scratch.mkdir()
    store = fresh_store(scratch)
    profiler = cProfile.Profile()
    gc.collect()
    profiler.runcall(fhirbridge_ingest, data, store, terminology)
    stored(store)
    print(f"\ncProfile of the fhirbridge variant (one run, top {top} by own time):")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


def report(results: list[Result], fhirclient_subset: bool) -> None:
    base = results[0]
    print(
        f"\n{'variant':<12}{'resources':>11}{'median s':>10}{'CPU s':>8}{'spread':>8}"
        f"{'resources/s':>13}{'vs baseline':>13}"
    )
    for r in results:
        print(
            f"{r.variant:<12}{r.resources:>11,}{r.seconds:>10.2f}{r.cpu:>8.2f}{r.spread:>8.0%}"
            f"{r.rate:>13,.0f}{r.rate / base.rate:>12.2f}x"
        )
    ours, theirs = results[1], results[2]
    ratio = ours.rate / theirs.rate
    note = f" (fhirclient measured on {theirs.resources:,} resources)" if fhirclient_subset else ""
    print(f"fhirbridge / fhirclient: {ratio:.1f}x{note}\n")
    rate, goal = ours.rate / TARGET_RATE, ratio / TARGET_RATIO
    print(
        f"{'PASS' if rate >= 1 else 'FAIL'}  fhirbridge end to end into SQLite ≥ "
        f"{TARGET_RATE:,}/s on one core: {ours.rate:,.0f}/s ({rate:.2f}x the target)"
    )
    print(
        f"{'PASS' if goal >= 1 else 'FAIL'}  fhirbridge ≥ {TARGET_RATIO:.0f}x the "
        f"fhirclient-based ingest: {ratio:.1f}x ({goal:.2f}x the target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="resources to generate")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--fhirclient-n", type=int, help="fhirclient on the first N only")
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: last)")
    parser.add_argument("--profile", action="store_true", help="cProfile one fhirbridge run")
    args = parser.parse_args()

    print(
        f"{datetime.now(UTC):%Y-%m-%d} Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, orjson {version('orjson')}, SQLAlchemy "
        f"{version('sqlalchemy')}, fhirclient {version('fhirclient')}; "
        f"{pin_one_core(args.cpu)}"
    )
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-") as tmp:
        work = Path(tmp)
        data = generate(work / "data", args.n, args.patients, args.seed)
        files = source_files(data)
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        print(
            f"generated {args.n:,} resources ({megabytes:.0f} MB NDJSON, "
            f"{', '.join(f.stem for f in files)}) for {args.patients:,} patients"
        )
        checked = validate_sample(data, 200, args.seed)  # raises on an invalid resource
        print(f"valid FHIR R4 (fhir.resources R4B): {checked}/{checked} sampled resources")
        terminology = load_terminology()
        sub_n = min(args.fhirclient_n or args.n, args.n)
        limits = subset_limits(files, args.n, sub_n)

        def prepare_baseline(_scratch: Path) -> tuple[Run, SqlStore | None]:
            return lambda: baseline(files), None

        def prepare_fhirbridge(scratch: Path) -> tuple[Run, SqlStore | None]:
            store = fresh_store(scratch)
            return lambda: fhirbridge_ingest(data, store, terminology), store

        def prepare_fhirclient(scratch: Path) -> tuple[Run, SqlStore | None]:
            store = fresh_store(scratch)
            return lambda: fhirclient_ingest(files, limits, store, str(data)), store

        results = []
        for variant, prepare, expected in (
            ("baseline", prepare_baseline, args.n),
            ("fhirbridge", prepare_fhirbridge, args.n),
            ("fhirclient", prepare_fhirclient, sub_n),
        ):
            results.append(measure(variant, prepare, expected, args.repeat, work))
            print(f"  {variant}: {results[-1].rate:,.0f} resources/s")
        report(results, sub_n < args.n)
        if args.profile:
            profile_fhirbridge(data, terminology, work, 25)


if __name__ == "__main__":
    main()
