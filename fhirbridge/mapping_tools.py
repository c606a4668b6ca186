"""Integrator tools: check mapping files (every problem, with file, line and path), list the
medication codes in the store that nothing maps, import a FHIR ConceptMap as a mapping file, and
pick up changed mapping files in a long-running server without a restart.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import tomllib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from fhirbridge.errors import ConfigError, MappingError
from fhirbridge.mappers import MappingContext, load_role_table, load_terminology
from fhirbridge.mappers.datatypes import RXNORM
from fhirbridge.mappers.integrator import MAPPING_SCHEMA, load_mapping_files
from fhirbridge.mappers.medication import medication_of
from fhirbridge.services import Services

log = logging.getLogger(__name__)
MEDICATION_TYPES = ("MedicationRequest", "MedicationDispense", "MedicationStatement")
# ConceptMap equivalences (R4 concept-map-equivalence) that let a local code stand for the
# target ingredient; "wider"/"inexact"/"unmatched"/"disjoint" would mislabel a drug.
USABLE_EQUIVALENCE = {"relatedto", "equivalent", "equal", "specializes", "subsumes", "narrower"}


def mapping_problems(file: Path) -> list[str]:
    """Every problem in one mapping file as 'file:line: path: problem' (empty list: valid)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"{file}: cannot read mapping: {exc.strerror}"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"{file}: not valid TOML: {exc}"]
    problems: list[str] = []
    validator = jsonschema.Draft202012Validator(MAPPING_SCHEMA)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = [str(p) for p in error.absolute_path]
        # A bad key (propertyNames) is reported on its parent: find the key itself.
        bad_key = error.validator == "pattern" and isinstance(error.instance, str)
        where = [*path, str(error.instance)] if bad_key else path
        line = _line_of(text, where)
        problems.append(f"{file}:{line}: {'/'.join(path) or '(top)'}: {error.message}")
    terminology = load_terminology()
    for token, names in (data.get("medications") or {}).items():
        for name in names if isinstance(names, list) else ():
            if isinstance(name, str) and name not in terminology.ingredients:
                problems.append(
                    f"{file}:{_line_of(text, ['medications', token])}: "
                    f"medications/{token}: unknown ingredient {name!r}"
                )
    return problems


def _line_of(text: str, path: list[str]) -> int:
    """The line where the path's last key is written (tomllib keeps no positions): the first
    line after the line naming the section that contains the key, else 1."""
    key = path[-1] if path else ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if key and (
            stripped.startswith((f'"{key}"', f"{key} ", f"{key}="))
            or stripped.startswith(f"[{key}]")
            or f".{key}]" in stripped
        ):
            return number
    return 1


def unmapped_codes(services: Services) -> list[tuple[str, int]]:
    """Medication codes (with their text) in the store that no table or mapping classifies,
    most frequent first: what an integrator should map next."""
    medications = {
        f"Medication/{m.get('id')}": m for m in services.store.resources_of_type("Medication")
    }
    ctx = MappingContext(terminology=services.terminology, medications=medications)
    counts: Counter[str] = Counter()
    for rtype in MEDICATION_TYPES:
        for resource in services.store.resources_of_type(rtype):
            try:
                drug = medication_of(resource, ctx)
            except MappingError:
                continue  # no medication at all: a dead letter, not an unmapped code
            if not drug.known:
                label = " ".join(x for x in (drug.code, drug.display) if x) or "(no code or text)"
                counts[label] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def conceptmap_to_mapping(conceptmap: Mapping[str, Any]) -> tuple[str, list[str]]:
    """A FHIR R4 ConceptMap (local or NDC codes → RxNorm) as a mapping file's TOML text, and
    the elements that could not be used (with why)."""
    if conceptmap.get("resourceType") != "ConceptMap":
        raise ConfigError("ConceptMap", "resourceType", "not a ConceptMap")
    terminology = load_terminology()
    lines: dict[str, list[str]] = {}
    skipped: list[str] = []
    for g_index, group in enumerate(conceptmap.get("group") or ()):
        source, target = group.get("source"), group.get("target")
        if not source:
            raise ConfigError("ConceptMap", f"group[{g_index}].source", "missing")
        for element in group.get("element") or ():
            code = element.get("code")
            for t in element.get("target") or ():
                equivalence = t.get("equivalence", "equivalent")
                if equivalence not in USABLE_EQUIVALENCE:
                    skipped.append(f"{source}|{code}: equivalence {equivalence}")
                    continue
                concept = {
                    "coding": [
                        {"system": target or "", "code": t.get("code"), "display": t.get("display")}
                    ]
                }
                drug = terminology.classify(
                    concept if target == RXNORM else {"text": t.get("display") or ""}
                )
                if not drug.known:
                    skipped.append(
                        f"{source}|{code}: target {t.get('code')} is no known ingredient"
                    )
                    continue
                lines.setdefault(f"{source}|{code}", list(drug.ingredients))
    name = conceptmap.get("url") or conceptmap.get("id") or "ConceptMap"
    version = f" version {conceptmap['version']}" if conceptmap.get("version") else ""
    out = [f'source = "FHIR ConceptMap {name}{version}"', "", "[medications]"]
    # JSON strings and arrays of strings are valid TOML basic strings and arrays.
    out += [f"{json.dumps(token)} = {json.dumps(names)}" for token, names in sorted(lines.items())]
    return "\n".join(out) + "\n", skipped


@dataclasses.dataclass(slots=True)
class MappingWatcher:
    """Reloads terminology and prescriber roles when a mapping file appears, changes or goes.

    A server calls `refresh()` before requests; it stats the files at most once a second.
    """

    services: Services
    patterns: tuple[str, ...]
    clock: Any
    _signature: tuple[tuple[str, float], ...] = ()
    _checked: float = 0.0

    def __post_init__(self) -> None:
        self._signature = self._current()
        self._checked = self.clock()

    def _current(self) -> tuple[tuple[str, float], ...]:
        files = sorted({f for p in self.patterns for f in glob.glob(p)})
        return tuple((f, os.stat(f).st_mtime) for f in files if os.path.isfile(f))

    def before_request(self) -> None:
        """Flask before_request hook (returns None so the request goes on)."""
        self.refresh()

    def refresh(self) -> bool:
        now = self.clock()
        if now - self._checked < 1.0:
            return False
        self._checked = now
        signature = self._current()
        if signature == self._signature:
            return False
        mappings = load_mapping_files(self.patterns)
        settings = self.services.settings
        self.services.terminology = load_terminology(
            local_codes=mappings.medications,
            origins=mappings.origins,
            moud_includes_methadone=settings.moud_includes_methadone,
        )
        self.services.roles = load_role_table(mappings=mappings)
        self._signature = signature
        log.info("mapping files changed: reloaded %d files", len(signature))
        return True
