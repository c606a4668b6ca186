"""Sync benchmark: pull 20,000 resources from the real FHIR test server, fhirbridge next to fhirpy.

Starts the test server (tests/fhir_server, node) on 127.0.0.1, loads 20,000 generated resources
(400 Patients, 400 MedicationRequests, 19,200 Observations) and times, in the same run:

- fhirpy: `SyncFHIRClient(url).resources(T).sort("_lastUpdated").limit(PAGE).fetch_all()` for each
  resource type fhirbridge pulls: the same searches, paged over the same next links;
- fhirbridge fetch only: `FhirClient.pages` over those searches (retries, same-origin checks,
  orjson), nothing stored: the client's own cost;
- fhirbridge sync: the full incremental pull `fhirbridge sync` runs (`sync.connections.pull_all`,
  then `Services.keep_mapped`, the records kept for analysis):
  retries with Retry-After, restarts of expired or shifted searches, de-duplication against the
  store, every page committed to a fresh SQLite file, then its cursor.

    python bench/sync.py                    # 20,000 resources, page size 500, 3 timed runs each
    python bench/sync.py --page-size 100    # smaller pages (more requests)

Needs `pip install fhirpy` (a bench requirement only; the tests do not use it) and the test
server's npm packages (`npm ci --prefix tests/fhir_server`). Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fhirbridge.bootstrap import build_services  # noqa: E402
from fhirbridge.mappers import MappingContext, load_terminology  # noqa: E402
from fhirbridge.settings import Connection, Settings  # noqa: E402
from fhirbridge.store import SqlStore, make_engine, upgrade  # noqa: E402
from fhirbridge.sync.client import FhirClient  # noqa: E402
from fhirbridge.sync.connections import pull_all  # noqa: E402
from fhirbridge.sync.incremental import ALL_TYPES  # noqa: E402
from tests.sync_support import generated, put_all  # noqa: E402

SERVER = REPO / "tests" / "fhir_server" / "server.mjs"


def start_server() -> tuple[subprocess.Popen[bytes], str, Path]:
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not installed")
    major = int(subprocess.run([node, "--version"], capture_output=True, text=True).stdout[1:3])
    flags = ["--experimental-websocket"] if major < 22 else []
    logs = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    out = (logs / "stdout").open("wb")
    process = subprocess.Popen(
        [node, *flags, str(SERVER), "0"], cwd=SERVER.parent, stdout=out, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(rb"LISTENING (\d+)", (logs / "stdout").read_bytes())
        if match:
            return process, f"http://127.0.0.1:{int(match.group(1))}", logs
        time.sleep(0.05)
    process.kill()
    sys.exit("the test FHIR server did not start")


def fhirpy_pull(url: str, page: int) -> int:
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(url)
    return sum(
        len(client.resources(t).sort("_lastUpdated").limit(page).fetch_all()) for t in ALL_TYPES
    )


def fetch_only(url: str, page: int) -> int:
    count = 0
    with FhirClient(url) as client:
        for rtype in ALL_TYPES:
            for p in client.pages(rtype, {"_sort": "_lastUpdated", "_count": page}):
                count += len(p.bundle.get("entry") or ())
    return count


def fhirbridge_sync(url: str, page: int, workdir: Path) -> int:
    db = workdir / f"sync-{time.monotonic_ns()}.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)  # untimed in spirit: schema set-up is part of `fhirbridge db upgrade`
    try:
        counts = pull_all(
            [Connection(name="bench", base_url=url, page_size=page)],
            SqlStore(engine),
            MappingContext(terminology=load_terminology()),
            run_id=None,
            now=lambda: datetime.now(UTC),
        )
        # Then what `fhirbridge sync` does after pulling (Services.sync): map every patient it
        # touched once and keep the records for analysis (stored_mapping.py).
        services = build_services(Settings(database_url=f"sqlite:///{db}"))
        services.keep_mapped(None)
        services.close()
    finally:
        engine.dispose()
    return sum(counts.stored.values())


def timed(run: Callable[[], int], repeat: int, expected: int) -> tuple[float, float, list[float]]:
    run()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        count = run()
        walls.append(time.perf_counter() - start)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpus.append((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime))
        if count != expected:
            sys.exit(f"pulled {count}, expected {expected}")
    return statistics.median(walls), statistics.median(cpus), walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--per-patient", type=int, default=48)  # 400 * (1 + 1 + 48) = 20,000
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    expected = args.patients * (2 + args.per_patient)

    process, url, logs = start_server()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-db-"))
    try:
        started = time.perf_counter()
        put_all(url, generated(args.patients, args.per_patient))
        print(
            f"loaded {expected:,} resources in {time.perf_counter() - started:.1f} s; page size "
            f"{args.page_size}; {args.repeat} timed runs each after a warm-up; "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
        )
        variants: list[tuple[str, Callable[[], int]]] = [
            ("fhirpy (fetch_all per type)", lambda: fhirpy_pull(url, args.page_size)),
            ("fhirbridge fetch only (FhirClient.pages)", lambda: fetch_only(url, args.page_size)),
            (
                "fhirbridge sync (all resilience, stored)",
                lambda: fhirbridge_sync(url, args.page_size, workdir),
            ),
        ]
        print(f"{'variant':44} {'median s':>9} {'CPU s':>7} {'resources/s':>12}  runs")
        results = {}
        for name, run in variants:
            wall, cpu, walls = timed(run, args.repeat, expected)
            results[name] = expected / wall
            runs = ", ".join(f"{w:.2f}" for w in walls)
            print(f"{name:44} {wall:9.2f} {cpu:7.2f} {expected / wall:12,.0f}  {runs}")
        ratio = (
            results["fhirbridge sync (all resilience, stored)"]
            / results["fhirpy (fetch_all per type)"]
        )
        print(f"fhirbridge sync / fhirpy: {ratio:.2f}x")
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
