"""Write-back to a FHIR server through the idempotency ledger (the `fhir-full` target).

Idempotency lives here, not in the server (ARCHITECTURE.md: conditional create is not
race-safe anywhere): every write is looked up in the ledger by (target, type, identifier); an
unchanged resource is not sent; a known one is updated by id with If-Match on the version we
last saw, and a 412 is resolved by re-reading, never by a blind overwrite; an unknown one is
created conditionally (If-None-Exist as a backstop: after a crash between the server's accept
and our ledger write, the backstop finds the resource and we adopt it).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any, Protocol

import orjson

from fhirbridge.errors import FhirConflict, FhirError, FhirNotFound, FhirRejected, outcome_text
from fhirbridge.store import LedgerEntry, SqlStore
from fhirbridge.writeback.build import build_provenance
from fhirbridge.writeback.bundle import full_url
from fhirbridge.writeback.plan import PlannedWrite

log = logging.getLogger(__name__)


class WriteClient(Protocol):
    """The part of FhirClient the publisher uses."""

    base_url: str

    def read(self, type_: str, id_: str) -> dict[str, Any]: ...
    def create(self, resource: Mapping[str, Any], *, if_none_exist: str | None = None) -> Any: ...
    def update(self, resource: Mapping[str, Any], *, if_match: str | None = None) -> Any: ...
    def conditional_update(
        self, type_: str, search_query: str, resource: Mapping[str, Any]
    ) -> Any: ...


@dataclass(slots=True)
class PublishReport:
    written: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_report(self) -> dict[str, Any]:
        return {
            "written": {t: dict(sorted(c.items())) for t, c in sorted(self.written.items())},
            "write_errors": self.errors,
        }


def content_hash(resource: Mapping[str, Any]) -> str:
    """Hash of what we send, keys sorted, without server-owned fields (id, meta.versionId...)."""
    body = {k: v for k, v in resource.items() if k != "id"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Publisher:
    """Writes planned resources to one server, patient by patient."""

    def __init__(
        self,
        client: WriteClient,
        store: SqlStore,
        *,
        now: Callable[[], datetime],
        device: str = "Device/fhirbridge",
        organization: str | None = None,
        security: tuple[str, ...] = ("PSY", "ETH"),
    ) -> None:
        self.client, self.store, self.now = client, store, now
        self.target = client.base_url
        self.device, self.organization, self.security = device, organization, security

    def publish(self, writes: Iterable[PlannedWrite]) -> PublishReport:
        """Write everything; a patient whose writes are rejected does not stop the others."""
        report = PublishReport()
        for patient, group in groupby(writes, key=lambda w: w.patient):
            self._publish_patient(patient, list(group), report)
        return report

    def _publish_patient(
        self, patient: str, writes: list[PlannedWrite], report: PublishReport
    ) -> None:
        server_refs: dict[str, str] = {}  # bundle fullUrl → "Type/id" on the server
        changed: list[str] = []
        for write in writes:
            resource = _resolve(write.resource, server_refs)
            if resource is None:
                report.written[write.resource_type]["skipped"] += 1
                report.errors.append(
                    {
                        "patient": patient,
                        "identifier": write.identifier,
                        "error": "a resource it refers to was not written",
                    }
                )
                continue
            try:
                outcome, ref = self._write(write, resource)
            except FhirRejected as exc:
                message = outcome_text(exc.outcome) or str(exc)
                self._record_failure(write, resource, message)
                report.written[write.resource_type]["failed"] += 1
                report.errors.append(
                    {"patient": patient, "identifier": write.identifier, "error": message}
                )
                log.warning(
                    "write-back rejected for %s (%s): %s", patient, write.resource_type, message
                )
                continue
            except FhirError as exc:
                # Transient after the client's retry budget: left pending, sent on the next run.
                self._record_failure(write, resource, str(exc), status="pending")
                report.written[write.resource_type]["pending"] += 1
                report.errors.append(
                    {"patient": patient, "identifier": write.identifier, "error": str(exc)}
                )
                continue
            server_refs[full_url(write.system, write.value)] = ref
            report.written[write.resource_type][outcome] += 1
            if outcome != "unchanged":
                changed.append(ref)
        if changed:
            self._provenance(changed, report)

    def _write(self, write: PlannedWrite, resource: dict[str, Any]) -> tuple[str, str]:
        """Send one resource unless the ledger says the server already has it; (outcome, ref)."""
        digest = content_hash(resource)
        entry = self.store.ledger_get(self.target, write.resource_type, write.identifier)
        if (
            entry is not None
            and entry.server_id
            and entry.status == "written"
            and entry.content_hash == digest
        ):
            return "unchanged", f"{write.resource_type}/{entry.server_id}"
        query = f"identifier={write.system}|{write.value}"
        if entry is not None and entry.server_id:
            try:
                result = self._update_by_id(
                    write.resource_type, entry.server_id, entry.version_id, resource
                )
                outcome = "updated"
            except FhirNotFound:
                entry = None  # deleted on the server: write it again below
        if entry is None or not entry.server_id:
            if write.resource_type == "DetectedIssue":
                result = self.client.create(resource, if_none_exist=query)
                outcome = "created" if result.status == 201 else "adopted"
                if outcome == "adopted" and content_hash(result.resource) != digest:
                    # The backstop found one we wrote before a crash (or an older content): bring
                    # it up to date rather than leave it stale.
                    found = result.resource
                    result = self._update_by_id(
                        write.resource_type,
                        found["id"],
                        (found.get("meta") or {}).get("versionId"),
                        resource,
                    )
                    outcome = "updated"
            else:
                result = self.client.conditional_update(write.resource_type, query, resource)
                outcome = "created" if result.status == 201 else "updated"
        stored = result.resource
        self.store.ledger_put(
            LedgerEntry(
                target=self.target,
                resource_type=write.resource_type,
                identifier=write.identifier,
                finding_key=write.finding_key,
                server_id=stored.get("id"),
                version_id=(stored.get("meta") or {}).get("versionId"),
                content_hash=digest,
                status="written",
                last_error=None,
                updated_at=self.now(),
            )
        )
        return outcome, f"{write.resource_type}/{stored.get('id')}"

    def _update_by_id(
        self, rtype: str, server_id: str, version: str | None, resource: dict[str, Any]
    ) -> Any:
        body = {**resource, "id": server_id}
        try:
            return self.client.update(body, if_match=version)
        except FhirConflict:
            # Someone changed it since our last write: re-read, and write ours on the new version
            # (our content is the current truth for a resource fhirbridge owns).
            current = self.client.read(rtype, server_id)
            return self.client.update(body, if_match=(current.get("meta") or {}).get("versionId"))

    def _record_failure(
        self, write: PlannedWrite, resource: dict[str, Any], message: str, status: str = "failed"
    ) -> None:
        previous = self.store.ledger_get(self.target, write.resource_type, write.identifier)
        self.store.ledger_put(
            LedgerEntry(
                target=self.target,
                resource_type=write.resource_type,
                identifier=write.identifier,
                finding_key=write.finding_key,
                server_id=previous.server_id if previous else None,
                version_id=previous.version_id if previous else None,
                content_hash=content_hash(resource),
                status=status,
                last_error=message[:2000],
                updated_at=self.now(),
            )
        )

    def _provenance(self, refs: list[str], report: PublishReport) -> None:
        provenance = build_provenance(
            refs,
            recorded=self.now().isoformat(timespec="seconds"),
            device=self.device,
            on_behalf_of=self.organization,
            security=self.security,
        )
        try:
            self.client.create(provenance)
            report.written["Provenance"]["created"] += 1
        except FhirError as exc:
            report.written["Provenance"]["failed"] += 1
            report.errors.append({"patient": "", "identifier": "Provenance", "error": str(exc)})


def _resolve(resource: dict[str, Any], server_refs: Mapping[str, str]) -> dict[str, Any] | None:
    """The resource with urn:uuid references replaced by server refs; None if one is unknown."""
    missing = False

    def walk(node: Any) -> Any:
        nonlocal missing
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "reference" and isinstance(value, str) and value.startswith("urn:uuid:"):
                    if value not in server_refs:
                        missing = True
                    out[key] = server_refs.get(value, value)
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    resolved = walk(resource)
    return None if missing else resolved
