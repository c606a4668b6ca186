"""Sync: sources (FHIR REST on one requests.Session, NDJSON and Bundle files) into the raw store."""

from fhirbridge.sync.client import FhirClient, WriteResult
from fhirbridge.sync.files import read_files, source_files
from fhirbridge.sync.ingest import Ingest, IngestCounts
from fhirbridge.sync.items import Received, SourceItem, Unreadable
from fhirbridge.sync.rest import pull

__all__ = [
    "FhirClient",
    "Ingest",
    "IngestCounts",
    "Received",
    "SourceItem",
    "Unreadable",
    "WriteResult",
    "pull",
    "read_files",
    "source_files",
]
