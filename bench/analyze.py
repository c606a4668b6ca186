"""Analyze-stage benchmark: the store → records → rules path for many generated patients.

    python bench/analyze.py                    # 100,000 patients x ~12 fills (db built once)
    python bench/analyze.py --patients 10000   # smaller
    python bench/analyze.py --profile          # also a cProfile of one analyze run
    python bench/analyze.py --skip-stage       # only the breakdown and the PDC core timings
    python bench/analyze.py --stage-runs 5     # time the stage 5 times (default 3)
    python bench/analyze.py --stage-only       # only the stage runs

Generated data (seeded, deterministic) goes into a SQLite file through `SqlStore.put_resources`
(untimed; reused by later runs), then is mapped and kept as `fhirbridge sync` does at its end
(`Services.keep_mapped`: timed and printed, not part of the stage). Timed: `Services.analyze`
(what `fhirbridge analyze` runs, with its default processes), several times, each run's wall
time and CPU time printed (this machine's speed drifted by up to 25% within a session: compare a
run's figures with the day-set baseline of the same run); one more pass of the same loop in
this process with a timer per part (stored-record read, decode, supply chain, measures,
choosing the rules, each rule that runs); then the PDC core
(`adherence.coverage.covered_days`) on the same fills next to a plain-Python day-set baseline
that computes the same numbers, and a numpy experiment. Results are checked equal before any
figure is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage
from typing import Any

import orjson

AS_OF = date(2026, 6, 30)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

# (rxnorm code, display, product text, unit, units per day, days per fill)
PRODUCTS = (
    ("36437", "sertraline", "Sertraline 50 MG Oral Tablet", "{tbl}", 1, 30),
    ("321988", "escitalopram", "Escitalopram 10 MG Oral Tablet", "{tbl}", 1, 30),
    ("4493", "fluoxetine", "Fluoxetine 20 MG Oral Capsule", "{cap}", 1, 30),
    ("89013", "aripiprazole", "Aripiprazole 10 MG Oral Tablet", "{tbl}", 1, 30),
    ("61381", "olanzapine", "Olanzapine 10 MG Oral Tablet", "{tbl}", 1, 30),
    ("28439", "lamotrigine", "Lamotrigine 100 MG Oral Tablet", "{tbl}", 2, 30),
    (
        "352364",
        "buprenorphine / naloxone",
        "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film",
        "{film}",
        2,
        28,
    ),
)


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit.strip("{}"), "system": UCUM, "code": unit}


def _medication(product: tuple[Any, ...]) -> dict[str, Any]:
    code, display, text = product[0], product[1], product[2]
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": text}


def _dosage(product: tuple[Any, ...]) -> list[dict[str, Any]]:
    unit, per_day = product[3], product[4]
    return [
        {
            "sequence": 1,
            "text": f"Take {per_day} by mouth daily",
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": _quantity(1, unit)}],
        }
    ]


def patient_resources(index: int, rng: random.Random) -> list[dict[str, Any]]:
    """One generated patient: a Patient, one order per drug, ~12 dispenses with varying gaps."""
    pid = f"bp{index:06d}"
    patient = f"Patient/{pid}"
    resources: list[dict[str, Any]] = [{"resourceType": "Patient", "id": pid}]
    drugs = rng.sample(PRODUCTS, 2 if rng.random() < 0.25 else 1)
    fills_left = max(2, round(rng.gauss(12, 2)))
    late = rng.choice((0, 2, 5, 10, 20))  # this patient's typical lateness in days
    for d, product in enumerate(drugs):
        oid = f"{pid}-o{d}"
        days = product[5]
        count = fills_left if d == len(drugs) - 1 else fills_left // 2
        fills_left -= count
        day = AS_OF - timedelta(days=360 - rng.randrange(0, 30))
        resources.append(
            {
                "resourceType": "MedicationRequest",
                "id": oid,
                "status": rng.choice(("active", "active", "completed")),
                "intent": "order",
                "subject": {"reference": patient},
                "authoredOn": f"{day.isoformat()}T09:00:00-05:00",
                "requester": {"reference": f"Practitioner/bench-{d}"},
                "medicationCodeableConcept": _medication(product),
                "dosageInstruction": _dosage(product),
                "dispenseRequest": {
                    "numberOfRepeatsAllowed": 11,
                    "quantity": _quantity(days * product[4], product[3]),
                    "expectedSupplyDuration": _quantity(days, "d"),
                },
            }
        )
        for n in range(count):
            resources.append(
                {
                    "resourceType": "MedicationDispense",
                    "id": f"{pid}-d{d}-{n}",
                    "status": "completed",
                    "subject": {"reference": patient},
                    "authorizingPrescription": [{"reference": f"MedicationRequest/{oid}"}],
                    "medicationCodeableConcept": _medication(product),
                    "dosageInstruction": _dosage(product),
                    "quantity": _quantity(days * product[4], product[3]),
                    "daysSupply": _quantity(days, "d"),
                    "whenHandedOver": f"{day.isoformat()}T11:15:00-05:00",
                    "performer": [{"actor": {"reference": "Organization/bench-pharmacy"}}],
                }
            )
            day += timedelta(days=max(1, days + int(rng.expovariate(1 / late) if late else 0) - 2))
            if day > AS_OF:
                break
    return resources


def build_store(url: str, patients: int, seed: int) -> None:
    """Write the generated patients into the store (untimed)."""
    from fhirbridge.store import SqlStore, make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for index in range(patients):
        for resource in patient_resources(index, rng):
            rtype = resource["resourceType"]
            rows.append(
                {
                    "resource_type": rtype,
                    "resource_id": resource["id"],
                    "version_id": "1",
                    "last_updated": "2026-06-30T06:00:00-05:00",
                    "patient_id": f"Patient/{resource['id']}"
                    if rtype == "Patient"
                    else resource["subject"]["reference"],
                    "source": "bench",
                    "run_id": None,
                    "body": orjson.dumps(resource),
                }
            )
        if len(rows) >= 20000:
            store.put_resources(rows)
            rows = []
    store.put_resources(rows)
    engine.dispose()


def day_set_pdc(supplies: list[Supply], first: int, last: int) -> int:
    """Baseline: the same PQA carry-over, but covered days kept as a plain Python set of days."""
    free: dict[str, int] = {}
    days: set[int] = set()
    for start, n, ingredients, _ in sorted(supplies, key=lambda s: (s[0], s[3])):
        for ingredient in ingredients:
            start = max(start, free.get(ingredient, start))
        days.update(range(start, start + n))
        for ingredient in ingredients:
            free[ingredient] = start + n
    return len(days.intersection(range(first, last + 1)))


def numpy_arrays(inputs: list[Any]) -> Any:
    """Flat arrays for the vectorised variant (untimed data path): one row per fill."""
    import numpy as np

    chains: dict[tuple[int, tuple[str, ...]], int] = {}
    rows = []
    for group, (supplies, _, _) in enumerate(inputs):
        for start, n, ingredients, _ in sorted(supplies, key=lambda s: (s[0], s[3])):
            chain = chains.setdefault((group, ingredients), len(chains))
            rows.append((group, chain, start, n))
    table = np.array(rows, dtype=np.int64)
    first = np.array([i[1] for i in inputs], dtype=np.int64)
    last = np.array([i[2] for i in inputs], dtype=np.int64)
    return table, first, last


def numpy_pdc(table: Any, first: Any, last: Any) -> Any:
    """Experiment, not fhirbridge code: PQA carry-over and union for all patients at once.

    Carry-over as a running maximum: with S the days supplied before a fill in its chain, a
    fill ends at max over earlier fills j of (start_j - S_j) + S + days. Exact here because no
    two products of one patient share an ingredient in the generated data.
    """
    import numpy as np

    group, chain, start, days = table.T
    order = np.lexsort((start, chain))
    group, chain, start, days = group[order], chain[order], start[order], days[order]
    big = np.int64(1) << 40
    supplied = np.cumsum(days)
    chain_begin = np.r_[True, chain[1:] != chain[:-1]]
    base = np.maximum.accumulate(np.where(chain_begin, supplied - days, 0))
    before = supplied - days - base  # days supplied earlier in the same chain
    shift = np.maximum.accumulate(start - before + chain * big) - chain * big
    end = shift + before + days  # exclusive
    begin = end - days
    begin = np.maximum(begin, first[group])
    end = np.minimum(end, last[group] + 1)
    keep = begin < end
    group, begin, end = group[keep], begin[keep], end[keep]
    order = np.lexsort((begin, group))
    group, begin, end = group[order], begin[order], end[order]
    reach = np.maximum.accumulate(end + group * big) - group * big
    previous = np.r_[np.int64(-(1 << 62)), reach[:-1]]
    previous = np.where(np.r_[True, group[1:] != group[:-1]], np.int64(-(1 << 62)), previous)
    new = np.maximum(0, end - np.maximum(begin, previous))
    return np.bincount(group, weights=new, minlength=len(first)).astype(np.int64)


def collect(services: Any, as_of: date) -> tuple[dict[str, float], list[Any], int]:
    """One pass of the analyze loop in this process with a timer per part (mirrors
    analyze_stage.analyze_range). Returns seconds per part, the PDC inputs per patient and
    group, and the patient count.
    """
    from fhirbridge.adherence import assess_adherence, resolve_supply
    from fhirbridge.adherence.coverage import select_fills
    from fhirbridge.analysis import RULES, rule_plan, rules_to_run
    from fhirbridge.mappers.compact import Decoder
    from fhirbridge.records import EventKind
    from fhirbridge.rule_needs import profile_from_text
    from fhirbridge.store.stored_records import read_stored_records
    from fhirbridge.stored_mapping import mapping_generation

    params = services.settings.analysis
    generation = mapping_generation(services.terminology, services._mapping_context().medications)
    prescribers = services._prescribers()
    decoder = Decoder()
    plan = rule_plan(params)
    names = {rule: name for name, rule in RULES.items() if rule is not None}
    chosen: dict[str, Any] = {}
    parts: dict[str, float] = {}
    inputs: list[Any] = []
    clock = time.perf_counter
    patients = 0
    last = as_of.toordinal()
    first_window = last - params.adherence.window_days + 1
    stream = read_stored_records(services.store.engine, generation)

    def add(part: str, seconds: float) -> None:
        parts[part] = parts.get(part, 0) + seconds

    while True:
        t0 = clock()
        item = next(stream, None)
        t1 = clock()
        add("store read (stored records)", t1 - t0)
        if item is None:
            break
        patient, body = item
        records, _, kept = decoder.decode_parts(patient, body, prescribers)
        t2 = clock()
        records = resolve_supply(records)
        t3 = clock()
        assess_adherence(records, as_of=as_of, params=params.adherence)
        t4 = clock()
        add("decode (mappers/compact.py)", t2 - t1)
        add("resolve_supply", t3 - t2)
        add("PDC + AMM (assess_adherence)", t4 - t3)
        # As analyze_range chooses them: once per distinct kept rule profile.
        rules = chosen.get(kept)
        if rules is None:
            rules = chosen[kept] = rules_to_run(plan, profile_from_text(kept), params)
        add("rules chosen (per distinct profile)", clock() - t4)
        for rule in rules:
            t5 = clock()
            rule(records, as_of, params)
            add(f"rule {names[rule]}", clock() - t5)
        patients += 1
        by_group: dict[str, list[Any]] = {}
        for event in records.events:
            if event.kind is not EventKind.STATEMENT:
                for group in event.drug.groups:
                    by_group.setdefault(group, []).append(event)
        for events in by_group.values():
            fills, _ = select_fills(events)
            used = [
                (f.start.toordinal(), f.days_supply, f.drug.ingredients, f.ref)
                for f in fills
                if f.days_supply and first_window <= f.start.toordinal() <= last
            ]
            if len({u[0] for u in used}) >= 2:
                inputs.append((used, min(u[0] for u in used), last))
    return parts, inputs, patients


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its finished child processes."""
    mine, children = getrusage(RUSAGE_SELF), getrusage(RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime, children.ru_utime + children.ru_stime


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of `repeat` runs (gc collected before each), and the last result."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="SQLite file to build or reuse")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the PDC core timings")
    parser.add_argument("--profile", action="store_true", help="cProfile one analyze run")
    parser.add_argument("--skip-stage", action="store_true", help="no Services.analyze run")
    parser.add_argument("--stage-runs", type=int, default=3, help="timed Services.analyze runs")
    parser.add_argument("--stage-only", action="store_true", help="no breakdown, no PDC core")
    args = parser.parse_args(argv)
    db = args.db or Path(tempfile.gettempdir()) / f"fhirbridge-bench-analyze-{args.patients}.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        start = time.perf_counter()
        build_store(url, args.patients, args.seed)
        print(f"built {db} in {time.perf_counter() - start:.1f} s")
    from fhirbridge.adherence.coverage import covered_days
    from fhirbridge.bootstrap import build_services
    from fhirbridge.settings import Settings

    services = build_services(Settings(database_url=url))
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, load {os.getloadavg()[0]:.2f}")
    # What sync does after it stored the resources (untimed in the stage; printed).
    start = time.perf_counter()
    mapped = services.keep_mapped(None)
    if mapped:
        print(
            f"mapped and stored {mapped:,} patients' records (sync's share) in "
            f"{time.perf_counter() - start:.1f} s"
        )
    if not args.skip_stage:
        times = []
        for run in range(1, args.stage_runs + 1):
            gc.collect()
            profiler = cProfile.Profile() if args.profile and run == 1 else None
            if profiler:
                profiler.enable()
            cpu = _cpu()
            start = time.perf_counter()
            result = services.analyze(AS_OF, None)
            seconds = time.perf_counter() - start
            mine, workers = (after - before for after, before in zip(_cpu(), cpu, strict=True))
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
            times.append(seconds)
            n = result.patients
            print(
                f"analyze stage (Services.analyze), run {run}: {n:,} patients in {seconds:.2f} s "
                f"= {n / seconds:,.0f} patients/s; {len(result.findings):,} findings; CPU "
                f"{mine:.1f} s here + {workers:.1f} s in {result.processes} worker processes"
            )
            # One stage per process, as `fhirbridge analyze` runs it: the next run must not
            # fork (and copy page tables for) this run's million result objects.
            del result
        times.sort()
        print(
            f"analyze stage over {len(times)} runs: best {times[0]:.2f} s, median "
            f"{times[len(times) // 2]:.2f} s, worst {times[-1]:.2f} s"
        )

    if args.stage_only:
        return 0
    parts, inputs, patients = collect(services, AS_OF)
    total = sum(parts.values())
    print(f"\nwhere the time goes (one timed pass, {patients:,} patients, {total:.1f} s):")
    for name, sec in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<42} {sec:7.2f} s  {sec / total:6.1%}")

    fills = sum(len(i[0]) for i in inputs)
    print(f"\nPDC core on the same inputs: {len(inputs):,} patient-groups, {fills:,} fills")
    base_s, base = best_of(args.repeat, lambda: [day_set_pdc(*i) for i in inputs])
    core_s, core = best_of(args.repeat, lambda: [covered_days(*i) for i in inputs])
    if base != core:
        raise SystemExit("PDC core and day-set baseline disagree")
    print(f"  day-set baseline (plain Python set of days) {patients / base_s:12,.0f} patients/s")
    print(
        f"  fhirbridge covered_days                     {patients / core_s:12,.0f} patients/s"
        f"  = {base_s / core_s:.1f}x"
    )
    try:
        table, first, last = numpy_arrays(inputs)
    except ImportError:
        return 0
    np_s, vector = best_of(args.repeat, lambda: numpy_pdc(table, first, last))
    if vector.tolist() != core:
        raise SystemExit("numpy experiment disagrees with covered_days")
    print(
        f"  experiment: numpy, all patients at once     {patients / np_s:12,.0f} patients/s"
        f"  = {base_s / np_s:.1f}x (arrays built untimed; not used by fhirbridge)"
    )
    return 0


Supply = tuple[int, int, tuple[str, ...], str]

if __name__ == "__main__":
    sys.exit(main())
