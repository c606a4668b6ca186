"""Write-back to a FHIR server, exactly once, through the ledger (profiles that send).

Idempotency lives here, not in the server (ARCHITECTURE.md; ehr-integration.md: conditional
create is not race-safe on HAPI, Microsoft, Medplum, IBM). For each planned write:

1. Unchanged since the ledger's last write (same content hash; for a create-only profile, written
   at all)? Nothing is sent.
2. Otherwise, under the key's cross-process lock (store/ledger.py), the ledger row is read again,
   and: a known resource is updated by id with `If-Match` on the version we last saw, a 412
   resolved by re-reading (adopt the server's copy if it already says what we would write, else
   write ours on the version just read, never blind); an unknown one is created with
   `If-None-Exist` on its identifier, a backstop only. When the backstop finds a resource (a
   process was killed after the server accepted its write and before the ledger recorded it),
   that resource is adopted, and updated only if its content differs.
3. In the lock's transaction: the ledger row, an audit row, the outbox row removed, and a
   Provenance for the write (its versioned reference; keyed by it, so a resumed run that adopts
   the resource creates it once, or finds it).

Failure behaviour: writes go patient by patient, and a rejected patient does not stop the others.
The server's OperationOutcome text goes to the ledger, the audit, the outbox (`rejected`) and the
run report. Transient errors are retried by the client within its budget (retries and total
wait); a write still failing stays `pending` in the outbox, and after `transient_limit` such
writes in a row the rest of the run is queued without being tried. A write whose reference
target failed waits in the outbox. Pending writes are sent on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from fhirbridge.errors import FhirConflict, FhirError, FhirNotFound, FhirRejected
from fhirbridge.store import LedgerEntry, SqlLedger, WriteUnit
from fhirbridge.writeback.build import PROVENANCE_SYSTEM, build_provenance
from fhirbridge.writeback.bundle import full_url
from fhirbridge.writeback.crash import WriteHook
from fhirbridge.writeback.delivery import (
    PublishReport,
    content_hash,
    failure_text,
    from_outbox,
    outbox_row,
    resolve_references,
    same_content,
)
from fhirbridge.writeback.plan import PlannedWrite, WriteOptions
from fhirbridge.writeback.profile import Profile

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (resource type, "system|value")


class WriteClient(Protocol):
    """The part of FhirClient the publisher uses."""

    base_url: str

    def read(self, type_: str, id_: str) -> dict[str, Any]: ...
    def create(self, resource: Mapping[str, Any], *, if_none_exist: str | None = None) -> Any: ...
    def update(self, resource: Mapping[str, Any], *, if_match: str | None = None) -> Any: ...


class Publisher:
    """Writes planned resources to one server for one profile, patient by patient."""

    def __init__(
        self,
        client: WriteClient,
        ledger: SqlLedger,
        *,
        profile: Profile,
        options: WriteOptions,
        now: Callable[[], datetime],
        run_id: int | None = None,
        after_write: WriteHook | None = None,
        transient_limit: int = 3,
    ) -> None:
        """Args:
        after_write: called after the server accepted a write, before the ledger records it
            (tests use it to kill the process in that window: crash_after_write).
        transient_limit: transient failures in a row after which the rest is queued untried.
        """
        self.client, self.ledger, self.profile, self.options = client, ledger, profile, options
        self.now, self.run_id, self.after_write = now, run_id, after_write
        self.target = client.base_url
        self.transient_limit = transient_limit
        self._known: dict[Key, LedgerEntry] = {}
        self._done: dict[Key, str] = {}  # written (or found unchanged) in this run → "Type/id"
        self._failed: set[Key] = set()
        self._transient = 0

    # ---- the run ------------------------------------------------------------------------
    def publish(
        self, writes: Sequence[PlannedWrite], rejected: Sequence[tuple[PlannedWrite, str]] = ()
    ) -> PublishReport:
        """Send `writes` and the outbox's pending ones; record `rejected` (failed R4B checks)."""
        report = PublishReport()
        self._known = self.ledger.snapshot(self.target)
        self._done, self._failed, self._transient = {}, set(), 0
        for write, message in rejected:
            with self.ledger.locked(self.target, *write.key) as unit:
                self._fail(unit, write, message, report, status="rejected", action="validate")
        planned = {w.key for w in writes} | {w.key for w, _ in rejected}
        by_patient: dict[str, list[PlannedWrite]] = {}
        for write in writes:
            by_patient.setdefault(write.patient, []).append(write)
        for row in self.ledger.pending(self.target):
            if (row.resource_type, row.identifier) in planned:
                continue  # planned again: this run's content supersedes it
            if not self.profile.rules.allows(row.rule):
                # The operator has since forbidden the rule for this target: never send it.
                self.ledger.dequeue(self.target, row.resource_type, row.identifier)
                report.written[row.resource_type]["withdrawn"] += 1
                continue
            by_patient.setdefault(row.patient_id, []).append(from_outbox(row))
        for patient, group in by_patient.items():
            for write in group:
                self._publish_one(write, report)
            log.debug("write-back for %s: %d planned", patient, len(group))
        report.outbox = self.ledger.outbox_counts(self.target)
        return report

    def _publish_one(self, write: PlannedWrite, report: PublishReport) -> None:
        refs: dict[str, str] = {}
        for rtype, system, value in write.depends_on:
            ref = self._ref_of((rtype, f"{system}|{value}"))
            if ref is None:
                message = f"waits for {rtype} {system}|{value}, which is not written yet"
                self._queue_untried(write, message, report)
                return
            refs[full_url(system, value)] = ref
        resource = resolve_references(write.resource, refs)
        digest = content_hash(resource)
        if write.resource_type != "Provenance" and self._unchanged(
            self._known.get(write.key), digest
        ):
            self._done[write.key] = f"{write.resource_type}/{self._known[write.key].server_id}"
            report.written[write.resource_type]["unchanged"] += 1
            return
        if self._transient >= self.transient_limit:
            message = f"not tried: {self._transient} transient failures in a row in this run"
            self._queue_untried(write, message, report)
            return
        with self.ledger.locked(self.target, *write.key) as unit:
            if write.resource_type == "Provenance":
                self._send_provenance(unit, write, resource, report)
            else:
                self._write_locked(unit, write, resource, digest, report)

    def _write_locked(
        self,
        unit: WriteUnit,
        write: PlannedWrite,
        resource: dict[str, Any],
        digest: str,
        report: PublishReport,
    ) -> None:
        entry = unit.entry  # read again under the lock: another process may have written it
        if self._unchanged(entry, digest):
            assert entry is not None  # noqa: S101  (_unchanged checked it)
            self._done[write.key] = f"{write.resource_type}/{entry.server_id}"
            unit.dequeue()
            report.written[write.resource_type]["unchanged"] += 1
            return
        try:
            outcome, stored, action = self._send(write, resource, entry)
        except FhirConflict as exc:  # 412 again after re-reading: changed concurrently; retry
            self._fail(unit, write, failure_text(exc), report, status="pending", exc=exc)
            return
        except FhirRejected as exc:
            self._fail(unit, write, failure_text(exc), report, status="rejected", exc=exc)
            return
        except FhirError as exc:
            self._transient += 1
            self._fail(unit, write, failure_text(exc), report, status="pending", exc=exc)
            return
        self._transient = 0
        if self.after_write is not None:
            self.after_write(write)  # test-only: the crash window (see crash_after_write)
        server_id = str(stored.get("id"))
        version = (stored.get("meta") or {}).get("versionId")
        ref = f"{write.resource_type}/{server_id}"
        recorded = LedgerEntry(
            target=self.target,
            resource_type=write.resource_type,
            identifier=write.identifier,
            finding_key=write.finding_key,
            server_id=server_id,
            version_id=version,
            content_hash=digest,
            status="written",
            last_error=None,
            updated_at=self.now(),
        )
        unit.record(recorded)
        unit.audit(
            self._audit(write, action, outcome, server_id=server_id, version=version, digest=digest)
        )
        unit.dequeue()
        self._known[write.key], self._done[write.key] = recorded, ref
        report.written[write.resource_type][outcome] += 1
        if self.profile.provenance:
            versioned = f"{ref}/_history/{version}" if version else ref
            self._provenance(unit, write, versioned, report)

    def _send(
        self, write: PlannedWrite, resource: dict[str, Any], entry: LedgerEntry | None
    ) -> tuple[str, dict[str, Any], str]:
        """(outcome, the server's copy, action) for one resource not known to be current."""
        rtype = write.resource_type
        if entry is not None and entry.server_id and not self.profile.create_only:
            try:
                stored, outcome = self._update(rtype, entry.server_id, entry.version_id, resource)
                return outcome, stored, "update"
            except FhirNotFound:
                pass  # deleted on the server since: create it again, below
        try:
            result = self.client.create(resource, if_none_exist=f"identifier={write.identifier}")
        except FhirConflict as exc:
            # Several resources already carry the identifier (written by something without a
            # ledger, or a racy server): adopting one would be a guess. Left for the operator.
            message = f"several {rtype} resources carry {write.identifier}: remove the duplicates"
            raise FhirRejected(message, url=exc.url, status=exc.status) from None
        if result.status == 201:
            return "created", result.resource, "conditional-create"
        found: dict[str, Any] = result.resource  # the backstop matched: adopt what is there
        if self.profile.create_only or same_content(found, resource):
            return "adopted", found, "conditional-create"
        version = (found.get("meta") or {}).get("versionId")
        stored, _ = self._update(rtype, str(found["id"]), version, resource)
        return "updated", stored, "conditional-create"

    def _update(
        self, rtype: str, server_id: str, version: str | None, resource: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        body = {**resource, "id": server_id}
        try:
            return self.client.update(body, if_match=version).resource, "updated"
        except FhirConflict:
            # Changed since our last write: re-read, never overwrite blindly. If the server's copy
            # already says what we would write (another writer got there), adopt it; else write
            # ours on the version just read (fhirbridge owns these resources). A second 412
            # propagates: the write stays pending for the next run.
            current = self.client.read(rtype, server_id)
            if same_content(current, resource):
                return current, "adopted"
            version = (current.get("meta") or {}).get("versionId")
            return self.client.update(body, if_match=version).resource, "updated"

    # ---- Provenance ----------------------------------------------------------------------
    def _provenance(
        self, unit: WriteUnit, write: PlannedWrite, versioned_ref: str, report: PublishReport
    ) -> None:
        """A Provenance for one write (agent: the fhirbridge Device, on behalf of the
        organization), created once per versioned target; queued when it cannot be sent now."""
        resource = build_provenance(
            [versioned_ref],
            recorded=self.now().isoformat(timespec="seconds"),
            device=self.options.device,
            on_behalf_of=self.options.organization,
            security=self.options.security,
            keyed_by_targets=True,
        )
        tag = resource["meta"]["tag"][-1]["code"]
        prov = PlannedWrite(
            patient=write.patient,
            resource_type="Provenance",
            system=PROVENANCE_SYSTEM,
            value=tag,
            resource=resource,
            finding_key=write.finding_key,
            rule=write.rule,
        )
        self._send_provenance(unit, prov, resource, report)

    def _send_provenance(
        self, unit: WriteUnit, prov: PlannedWrite, resource: dict[str, Any], report: PublishReport
    ) -> None:
        try:
            result = self.client.create(resource, if_none_exist=f"_tag={prov.identifier}")
        except FhirError as exc:
            status = "rejected" if isinstance(exc, FhirRejected) else "pending"
            unit.queue(self._row(prov, status, failure_text(exc)))
            unit.audit(
                self._audit(
                    prov,
                    "conditional-create",
                    status,
                    error=failure_text(exc),
                    http_status=exc.status,
                )
            )
            report.failed(prov, status, failure_text(exc), exc.status)
            return
        outcome = "created" if result.status == 201 else "adopted"
        unit.audit(
            self._audit(prov, "conditional-create", outcome, server_id=result.resource.get("id"))
        )
        unit.dequeue("Provenance", prov.identifier)
        report.written["Provenance"][outcome] += 1

    # ---- failures ------------------------------------------------------------------------
    def _fail(
        self,
        unit: WriteUnit,
        write: PlannedWrite,
        message: str,
        report: PublishReport,
        *,
        status: str,
        action: str = "write",
        exc: FhirError | None = None,
    ) -> None:
        """Record a write that did not happen: ledger, audit, outbox, report; in the unit."""
        previous = unit.entry
        unit.record(
            LedgerEntry(
                target=self.target,
                resource_type=write.resource_type,
                identifier=write.identifier,
                finding_key=write.finding_key,
                server_id=previous.server_id if previous else None,
                version_id=previous.version_id if previous else None,
                content_hash=previous.content_hash if previous else "",
                status="failed" if status == "rejected" else "pending",
                last_error=message[:2000],
                updated_at=self.now(),
            )
        )
        http_status = exc.status if exc is not None else None
        unit.audit(self._audit(write, action, status, error=message, http_status=http_status))
        unit.queue(self._row(write, status, message))
        self._failed.add(write.key)
        report.failed(write, "failed" if status == "rejected" else "pending", message, http_status)
        log.warning(
            "write-back %s for %s (%s): %s", status, write.patient, write.resource_type, message
        )

    def _queue_untried(self, write: PlannedWrite, message: str, report: PublishReport) -> None:
        self.ledger.queue(self._row(write, "pending", message))
        self._failed.add(write.key)
        report.failed(write, "pending", message, None)

    # ---- helpers -------------------------------------------------------------------------
    def _unchanged(self, entry: LedgerEntry | None, digest: str) -> bool:
        if entry is None or entry.status != "written" or not entry.server_id:
            return False
        return self.profile.create_only or entry.content_hash == digest

    def _ref_of(self, key: Key) -> str | None:
        if key in self._done:
            return self._done[key]
        if key in self._failed:
            return None
        entry = self._known.get(key)
        return f"{key[0]}/{entry.server_id}" if entry is not None and entry.server_id else None

    def _audit(
        self,
        write: PlannedWrite,
        action: str,
        outcome: str,
        *,
        server_id: str | None = None,
        version: str | None = None,
        digest: str | None = None,
        error: str | None = None,
        http_status: int | None = None,
    ) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "profile": self.profile.name,
            "resource_type": write.resource_type,
            "identifier": write.identifier,
            "patient_id": write.patient,
            "finding_key": write.finding_key,
            "action": action,
            "outcome": outcome,
            "http_status": http_status,
            "server_id": server_id,
            "version_id": version,
            "content_hash": digest,
            "error": error,
            "at": self.now(),
        }

    def _row(self, write: PlannedWrite, status: str, message: str) -> dict[str, Any]:
        return outbox_row(write, target=self.target, status=status, message=message, now=self.now())
