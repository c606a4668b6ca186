"""Write-back: pure builders and plan (findings → FHIR dicts), target profiles (one module
each, registered in profiles.py), the transaction Bundle, and the ledger-backed publisher for FHIR
servers. Builders, plan and profiles import no requests/sqlmodel/flask.
"""

from fhirbridge.writeback.build import validate
from fhirbridge.writeback.bundle import entry_for, transaction_bundle
from fhirbridge.writeback.crash import crash_after_write
from fhirbridge.writeback.delivery import PublishReport, content_hash
from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions, plan_writes
from fhirbridge.writeback.profile import Profile, RuleFilter
from fhirbridge.writeback.profiles import PROFILES, load_profile
from fhirbridge.writeback.publisher import Publisher

__all__ = [
    "PROFILES",
    "FindingState",
    "PlannedWrite",
    "Profile",
    "PublishReport",
    "Publisher",
    "RuleFilter",
    "WriteOptions",
    "content_hash",
    "crash_after_write",
    "entry_for",
    "load_profile",
    "plan_writes",
    "transaction_bundle",
    "validate",
]
