"""Sync: a file source. NDJSON (Bulk Data layout) and JSON files, a directory searched recursively.

Streams: one NDJSON line or one JSON file in memory at a time. A line or file that is not JSON
becomes an `Unreadable` item (dead-lettered by ingest); reading goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from fhirbridge.errors import SourceError
from fhirbridge.sync.items import Received, SourceItem, Unreadable, bundle_resources

SUFFIXES = (".ndjson", ".json")


def source_files(path: Path) -> list[Path]:
    """The files a path stands for, sorted for a deterministic order.

    Raises:
        SourceError: the path does not exist, or a directory holds no NDJSON or JSON file.
    """
    if not path.exists():
        raise SourceError(f"source not found: {path}")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise SourceError(f"no *.ndjson or *.json files under {path}")
    return files


def read_files(path: Path) -> Iterator[SourceItem]:
    """Every resource in the files under `path`, in file order then line/entry order."""
    for file in source_files(path):
        if file.suffix.lower() == ".ndjson":
            yield from _read_ndjson(file)
        else:
            yield from _read_json(file)


def _read_ndjson(file: Path) -> Iterator[SourceItem]:
    with file.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            location = f"{file}:{number}"
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield Unreadable(raw=line, location=location, reason="not valid JSON")
                continue
            if not isinstance(resource, dict):
                yield Unreadable(raw=line, location=location, reason="not a JSON object")
            elif resource.get("resourceType") == "Bundle":
                yield from bundle_resources(resource, location)
            else:
                yield Received(resource=resource, raw=line, location=location)


def _read_json(file: Path) -> Iterator[SourceItem]:
    raw = file.read_bytes()
    location = str(file)
    try:
        resource = orjson.loads(raw)
    except orjson.JSONDecodeError:
        yield Unreadable(raw=raw, location=location, reason="not valid JSON")
        return
    if not isinstance(resource, dict):
        yield Unreadable(raw=raw, location=location, reason="not a JSON object")
    elif resource.get("resourceType") == "Bundle":
        yield from bundle_resources(resource, location)
    else:
        yield Received(resource=resource, raw=None, location=location)
