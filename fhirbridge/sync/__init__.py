"""Sync: sources (FHIR REST on one requests.Session, Bulk Data, NDJSON and Bundle files) into the
raw store; SMART Backend Services auth; incremental cursors; one connection per tenant."""

from fhirbridge.sync.auth import SmartBackendAuth
from fhirbridge.sync.bulk import BulkExport, ExportScope
from fhirbridge.sync.client import FhirClient, Page, WriteResult
from fhirbridge.sync.files import read_files, source_files
from fhirbridge.sync.incremental import IncrementalPull, Scope
from fhirbridge.sync.ingest import Ingest, IngestCounts
from fhirbridge.sync.items import Received, SourceItem, Unreadable
from fhirbridge.sync.keys import SigningKey, load_signing_key, public_jwks, write_key_pair

__all__ = [
    "BulkExport",
    "ExportScope",
    "FhirClient",
    "IncrementalPull",
    "Ingest",
    "IngestCounts",
    "Page",
    "Received",
    "Scope",
    "SigningKey",
    "SmartBackendAuth",
    "SourceItem",
    "Unreadable",
    "WriteResult",
    "load_signing_key",
    "public_jwks",
    "read_files",
    "source_files",
    "write_key_pair",
]
