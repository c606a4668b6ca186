"""Mapped records kept in the store: what they depend on, and bringing them up to date.

Sync maps the patients it touched once (`keep_mapped`); analysis maps whatever is still not
current (a changed terminology, a new Medication, a store written by an older fhirbridge)
and then reads every patient's mapped records instead of re-parsing and re-mapping every
FHIR body (bench/README.md: that was 60% of the analyze stage).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from fhirbridge import mappers, records, rule_needs
from fhirbridge.analyze_stage import start_context, worker_count
from fhirbridge.mappers import MAPPERS, MappingContext, Terminology
from fhirbridge.mappers.compact import FORMAT, encode
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.rule_needs import profile_text, rule_profile
from fhirbridge.store import SqlStore, make_engine
from fhirbridge.store.stored_records import put_stored_records, unmapped_patients

log = logging.getLogger(__name__)
_BATCH = 1000  # patients mapped and written per transaction


def _code_digest() -> str:
    """The mapper, record and rule-profile source code: a change invalidates every stored
    mapping."""
    digest = hashlib.sha256()
    for path in sorted(Path(mappers.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(Path(records.__file__).read_bytes())
    digest.update(Path(rule_needs.__file__).read_bytes())  # the stored rule profile
    return digest.hexdigest()


_CODE = _code_digest()


def _sorted(value: Any) -> Any:
    """A canonical JSON-able form (sets sorted: their order changes between processes)."""
    if isinstance(value, (set, frozenset)):
        return sorted(_sorted(v) for v in value)
    if isinstance(value, dict):
        return sorted((str(k), _sorted(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    if isinstance(value, re.Pattern):
        return [value.pattern, value.flags]
    if hasattr(value, "__slots__"):  # the terminology's small frozen dataclasses
        return [_sorted(getattr(value, s)) for s in value.__slots__]
    return value


def mapping_generation(
    terminology: Terminology, medications: Mapping[str, Mapping[str, Any]] | None
) -> str:
    """A fingerprint of everything a patient's mapped records depend on besides the patient's
    own resources: the mapper code and encoding, the terminology (drug table and integrator
    mappings), and the stored Medication resources that medicationReference resolves to.
    """
    digest = hashlib.sha256(f"{_CODE}|{FORMAT}".encode())
    table = [
        terminology.ingredients,
        terminology.by_code,
        terminology.class_groups,
        terminology._synonyms,
        terminology._formulations,
    ]
    digest.update(orjson.dumps(_sorted(table)))
    for ref, medication in sorted((medications or {}).items()):
        digest.update(ref.encode() + b"\0" + orjson.dumps(medication, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()[:32]


def keep_mapped(
    store: SqlStore,
    ctx: MappingContext,
    generation: str,
    *,
    run_id: int | None,
    now: Callable[[], datetime],
    progress: Callable[[str, int], None] | None = None,
    database_url: str = "sqlite://",
    workers: int = 1,
) -> int:
    """Map every patient whose stored records are missing or of another generation.

    A resource the mappers cannot use is dead-lettered here with its reason (the stored
    records keep the skip, so every analysis still counts it). Many patients (a first sync)
    are split across `workers` processes as the analyze stage splits them (analyze_stage.py).
    Returns the patients mapped.
    """
    patients = unmapped_patients(store.engine, generation)
    count = worker_count(workers, len(patients), database_url)
    if count == 1:
        done = map_patients(store, ctx, generation, patients, run_id, now(), progress)
    else:
        size = -(-len(patients) // count)
        parts = [patients[i : i + size] for i in range(0, len(patients), size)]
        with ProcessPoolExecutor(len(parts) - 1, mp_context=start_context()) as pool:
            others = [
                pool.submit(_map_part, database_url, ctx, generation, part, run_id, now())
                for part in parts[1:]
            ]
            done = map_patients(store, ctx, generation, parts[0], run_id, now(), progress)
            done += sum(future.result() for future in others)
    if done:
        log.info("mapped and stored the records of %d patients", done)
    return done


def map_patients(
    store: SqlStore,
    ctx: MappingContext,
    generation: str,
    patients: list[str],
    run_id: int | None,
    now: datetime,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Map these patients' raw resources and store the records, a batch per transaction."""
    done = 0
    for i in range(0, len(patients), _BATCH):
        rows: list[tuple[str, str, bytes]] = []
        dead: list[dict[str, Any]] = []
        batch = patients[i : i + _BATCH]
        for patient, resources in store.resources_by_patient(MAPPERS, patients=batch):
            mapped, skips = to_patient_records(patient, resources, ctx)
            # The rule profile reads no dates: worked out here once, not on every analysis.
            profile = profile_text(rule_profile(mapped))
            rows.append((patient, generation, encode(mapped, skips, profile)))
            for skip in skips:
                if skip.dead_letter:
                    dead.append(dead_row(skip.ref, skip.reason, resources, run_id, now))
        store.put_dead_letters(dead)
        put_stored_records(store.engine, rows)
        done += len(rows)
        if progress is not None:
            progress("map", done)
    return done


def _map_part(
    database_url: str,
    ctx: MappingContext,
    generation: str,
    patients: list[str],
    run_id: int | None,
    now: datetime,
) -> int:
    """map_patients in another process, on its own engine."""
    store = SqlStore(make_engine(database_url))
    try:
        return map_patients(store, ctx, generation, patients, run_id, now)
    finally:
        store.engine.dispose()


def dead_row(
    ref: str, reason: str, resources: list[dict[str, Any]], run_id: int | None, now: datetime
) -> dict[str, Any]:
    """A dead-letter row for a resource the mappers could not use (its bytes kept)."""
    rtype, rid = ref.split("/", 1)
    body = next(
        (
            orjson.dumps(r)
            for r in resources
            if r.get("resourceType") == rtype and r.get("id") == rid
        ),
        b"",
    )
    return {
        "fingerprint": hashlib.sha256(body).hexdigest(),
        "run_id": run_id,
        "source": "store",
        "location": ref,
        "resource_type": rtype,
        "resource_id": rid,
        "reason": reason[:500],
        "body": body,
        "created_at": now,
    }
