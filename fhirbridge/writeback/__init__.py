"""Write-back: pure builders and plan (findings → FHIR dicts), the bundle-file target, and the
ledger-backed publisher for FHIR servers. Builders and plan import no requests/sqlmodel/flask.
"""

from fhirbridge.writeback.build import validate
from fhirbridge.writeback.bundle import entry_for, transaction_bundle
from fhirbridge.writeback.plan import PlannedWrite, WriteOptions, plan_writes
from fhirbridge.writeback.publisher import Publisher, PublishReport, content_hash

__all__ = [
    "PlannedWrite",
    "PublishReport",
    "Publisher",
    "WriteOptions",
    "content_hash",
    "entry_for",
    "plan_writes",
    "transaction_bundle",
    "validate",
]
