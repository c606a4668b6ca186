"""Store: the SQLModel tables, the single source of the schema (Alembic migrates to it).

Raw resources are kept as received (the bytes of the JSON), with the columns analysis and
incremental sync filter on. Bodies are bytes, not JSON columns: they are written in bulk and
read whole, never queried inside.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class RawResource(SQLModel, table=True):
    """One FHIR resource as received; the newest version wins."""

    __tablename__ = "raw_resource"

    resource_type: str = Field(primary_key=True, max_length=64)
    resource_id: str = Field(primary_key=True, max_length=128)
    version_id: str | None = Field(default=None, max_length=128)
    last_updated: str | None = Field(default=None, max_length=40)  # meta.lastUpdated as sent
    patient_id: str | None = Field(default=None, index=True, max_length=200)  # "Patient/<id>"
    source: str = Field(max_length=500)  # a file path or a base URL, never a query string
    run_id: int | None = Field(default=None)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Run(SQLModel, table=True):
    """One invocation of a stage (sync, analyze, writeback, run), with its report."""

    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    command: str = Field(max_length=40)
    source: str | None = Field(default=None, max_length=500)
    as_of: date | None = None
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=20)  # running | ok | failed
    report: str | None = Field(default=None, sa_column=Column(Text))  # run-report.json


class DeadLetter(SQLModel, table=True):
    """A resource (or line) that could not be used, kept with its reason; nothing is lost."""

    __tablename__ = "dead_letter"
    __table_args__ = (UniqueConstraint("fingerprint", "reason", name="uq_dead_letter"),)

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64)  # sha256 of the body: the same bad input once
    run_id: int | None = None
    source: str = Field(max_length=500)
    location: str | None = Field(default=None, max_length=500)  # "file.ndjson:17", a ref
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=128)
    reason: str = Field(max_length=500)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime


class FindingRecord(SQLModel, table=True):
    """The latest state of each finding: open while a run finds it, resolved after."""

    __tablename__ = "finding"
    # Each run reads every finding's key, patient and status (store/finding_recorder.py):
    # from this index alone, not from rows that carry their ~500-byte bodies.
    __table_args__ = (Index("ix_finding_state", "key", "patient_id", "status"),)

    key: str = Field(primary_key=True, max_length=64)
    patient_id: str = Field(index=True, max_length=200)
    rule: str = Field(max_length=64)
    status: str = Field(default="open", max_length=20)  # open | resolved
    first_seen: date
    last_seen: date
    resolved_on: date | None = None
    # Start of the current episode: first_seen, or the day a resolved finding was found again.
    # Write-back dates a reactivated Flag from it (None in rows older than this column).
    opened_on: date | None = None
    body: str = Field(sa_column=Column(Text, nullable=False))  # findings.ndjson line


class LedgerEntry(SQLModel, table=True):
    """Write-back idempotency ledger: one row per written resource identifier and target."""

    __tablename__ = "writeback_ledger"
    __table_args__ = (
        UniqueConstraint("target", "resource_type", "identifier", name="uq_ledger_identifier"),
    )

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=500)  # base URL or "bundle-file"
    resource_type: str = Field(max_length=64)
    identifier: str = Field(max_length=300)  # "system|value"
    finding_key: str | None = Field(default=None, max_length=64)
    server_id: str | None = Field(default=None, max_length=128)
    version_id: str | None = Field(default=None, max_length=128)
    content_hash: str = Field(max_length=64)  # of what we last sent, sans meta
    status: str = Field(default="written", max_length=20)  # written | failed | pending
    last_error: str | None = Field(default=None, max_length=2000)
    updated_at: datetime


class SyncCursor(SQLModel, table=True):
    """Incremental sync position per source and resource type (`_lastUpdated`)."""

    __tablename__ = "sync_cursor"

    source: str = Field(primary_key=True, max_length=500)
    resource_type: str = Field(primary_key=True, max_length=64)
    cursor: str = Field(max_length=40)
    updated_at: datetime


class BulkExport(SQLModel, table=True):
    """A Bulk Data `$export` job in progress, saved before polling so a crash can resume it.

    The row goes once every file is committed; the manifest's `transactionTime` then becomes the
    `$export` cursor in `sync_cursor` (the next `_since`).
    """

    __tablename__ = "bulk_export"

    source: str = Field(primary_key=True, max_length=500)  # connection name + export scope
    status_url: str = Field(max_length=2000)  # Content-Location of the kick-off
    since: str | None = Field(default=None, max_length=40)  # the `_since` it was asked with
    manifest: str | None = Field(default=None, sa_column=Column(Text))  # once complete
    files_done: str = Field(default="[]", sa_column=Column(Text))  # JSON list of committed URLs
    kicked_off_at: datetime
    updated_at: datetime


class CdsFeedback(SQLModel, table=True):
    """CDS Hooks feedback on a card: accepted or overridden, with the clinician's reason code.

    The card uuid is the finding key (api/cards.py), so feedback names its finding. The free-text
    userComment is not kept: it may hold patient details and nothing here needs it.
    """

    __tablename__ = "cds_feedback"
    __table_args__ = (UniqueConstraint("card", "outcome_timestamp", name="uq_cds_feedback"),)

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=100)
    card: str = Field(max_length=64)  # the card uuid as sent
    finding_key: str | None = Field(default=None, index=True, max_length=64)
    outcome: str = Field(max_length=20)  # accepted | overridden
    override_reason: str | None = Field(default=None, max_length=200)  # "system|code"
    accepted_suggestions: str | None = Field(default=None, max_length=2000)  # uuids, comma-joined
    outcome_timestamp: str = Field(max_length=40)
    received_at: datetime


class ApiAccess(SQLModel, table=True):
    """Audit of API access to patient data: who (token name and role), what route, which patient."""

    __tablename__ = "api_access"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    token_name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    method: str = Field(max_length=10)
    route: str = Field(max_length=200)  # route template: /api/v1/patients/<pid>/findings
    patient: str | None = Field(default=None, index=True, max_length=200)  # "Patient/<id>"
    status: int


class OutboxEntry(SQLModel, table=True):
    """A write-back that could not be completed: kept, and sent again on the next run.

    One row per target and resource identifier (a newer attempt replaces the older payload).
    `pending` rows are retried on the next run; `rejected` rows (the server refused them, or they
    failed R4B validation) stay for the operator and are retried only when planned again.
    """

    __tablename__ = "writeback_outbox"
    __table_args__ = (
        UniqueConstraint("target", "resource_type", "identifier", name="uq_outbox_identifier"),
    )

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=500)  # base URL
    resource_type: str = Field(max_length=64)
    identifier: str = Field(max_length=300)  # "system|value" (Provenance: its tag)
    patient_id: str = Field(max_length=200)
    finding_key: str | None = Field(default=None, max_length=64)
    rule: str | None = Field(default=None, max_length=64)
    depends_on: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # the resource JSON
    status: str = Field(default="pending", max_length=20)  # pending | rejected
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime
    updated_at: datetime


class WriteAudit(SQLModel, table=True):
    """Local audit of every write-back attempt and its outcome (one row per request outcome)."""

    __tablename__ = "writeback_audit"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, index=True)
    target: str = Field(max_length=500)
    profile: str = Field(max_length=40)
    resource_type: str = Field(max_length=64)
    identifier: str = Field(index=True, max_length=300)
    patient_id: str | None = Field(default=None, max_length=200)
    finding_key: str | None = Field(default=None, max_length=64)
    # create | conditional-create | update | validate (a local R4B check that failed)
    action: str = Field(max_length=40)
    # created | updated | adopted | rejected | pending
    outcome: str = Field(max_length=20)
    http_status: int | None = None
    server_id: str | None = Field(default=None, max_length=128)
    version_id: str | None = Field(default=None, max_length=128)
    content_hash: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=2000)  # OperationOutcome text, never bodies
    at: datetime


class FindingAcknowledgement(SQLModel, table=True):
    """A clinician's acknowledgement or override of a finding: it is not raised again until
    its inputs change (reconciliation/suppression.py; store/suppression.py records it)."""

    __tablename__ = "finding_acknowledgement"

    id: int | None = Field(default=None, primary_key=True)
    finding_key: str = Field(index=True, max_length=64)
    patient_id: str | None = Field(default=None, max_length=200)  # from the finding, when known
    rule: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=20)  # acknowledged | overridden
    acknowledged_by: str = Field(max_length=200)  # a Practitioner reference or user name
    acknowledged_at: datetime
    reason: str = Field(sa_column=Column(Text, nullable=False))
    # JSON list of the finding's evidence refs when acknowledged; NULL: the finding was unknown.
    evidence: str | None = Field(default=None, sa_column=Column(Text))


class PageSession(SQLModel, table=True):
    """A patient page session (api/page_session.py): the launch state, then the patient and the
    EHR's access token, encrypted with a key only the browser's cookie holds.

    The row is found by a hash of the cookie, so the table alone opens no session and reads no
    token; rows past `expires_at` are deleted.
    """

    __tablename__ = "page_session"

    key: str = Field(primary_key=True, max_length=64)  # SHA-256 hex of the session cookie
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # AES-GCM nonce+sealed
    expires_at: datetime = Field(index=True)


class StoredRecords(SQLModel, table=True):
    """One patient's mapped records (mappers/compact.py), kept so analysis need not re-map.

    `generation` fingerprints what the mapping depended on (mapper code, terminology,
    Medication resources: stored_records.py); a row of another generation, or none, means
    the patient is mapped again from the raw resources. Writing a patient's raw resources
    deletes the row (store/repository.py put_resources).
    """

    __tablename__ = "stored_records"
    # Which patients are current, in order, from the index alone: without it each row (about
    # 2.3 KB of records) is read to see its generation (0.17 s at 100,000 patients).
    __table_args__ = (Index("ix_stored_records_generation_patient", "generation", "patient_id"),)

    patient_id: str = Field(primary_key=True, max_length=200)
    generation: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
