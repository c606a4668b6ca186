"""What a write-back delivery compares and records: content hashes and comparison with the
server's copy, reference resolution, report entries, and outbox rows (store/outbox.py).

Used by the publisher; no I/O here. Error texts carry the server's OperationOutcome (element
paths and codes, what an operator needs), never resource bodies.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from fhirbridge.errors import FhirError, FhirRejected, outcome_text
from fhirbridge.store.tables import OutboxEntry
from fhirbridge.writeback.plan import PlannedWrite


@dataclass(slots=True)
class PublishReport:
    """What a publish did: counts by type and outcome, errors, and what the outbox holds."""

    written: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict[str, Any]] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)

    def as_report(self) -> dict[str, Any]:
        """run-report.json keys: written (type → outcome → n), write_errors, outbox."""
        return {
            "written": {t: dict(sorted(c.items())) for t, c in sorted(self.written.items())},
            "write_errors": self.errors,
            "outbox": self.outbox,
        }

    def failed(self, write: PlannedWrite, outcome: str, message: str, status: int | None) -> None:
        """Count an outcome that is not a write, and keep its error entry."""
        self.written[write.resource_type][outcome] += 1
        self.errors.append(
            {
                "patient": write.patient,
                "resource_type": write.resource_type,
                "identifier": write.identifier,
                "finding": write.finding_key,
                "rule": write.rule,
                "http_status": status,
                "error": message,
            }
        )


def content_hash(resource: Mapping[str, Any]) -> str:
    """Hash of what we send, keys sorted, without the server-assigned id."""
    body = {k: v for k, v in resource.items() if k != "id"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def same_content(server: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    """True when the server's copy says what we would write (its id and meta fields aside)."""
    theirs = {k: v for k, v in server.items() if k not in ("id", "meta")}
    mine = {k: v for k, v in ours.items() if k not in ("id", "meta")}
    if theirs != mine:
        return False
    their_meta, my_meta = server.get("meta") or {}, ours.get("meta") or {}
    return all(their_meta.get(k) == my_meta.get(k) for k in ("tag", "security"))


def resolve_references(resource: dict[str, Any], refs: Mapping[str, str]) -> dict[str, Any]:
    """The resource with bundle urn:uuid references replaced by server references."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: refs.get(value, value)
                if key == "reference" and isinstance(value, str)
                else walk(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(resource))


def failure_text(exc: FhirError) -> str:
    """The server's OperationOutcome text for a rejection; the error's message otherwise."""
    if isinstance(exc, FhirRejected):
        return outcome_text(exc.outcome) or str(exc)
    return str(exc)


def outbox_row(
    write: PlannedWrite, *, target: str, status: str, message: str, now: datetime
) -> dict[str, Any]:
    """The outbox row that keeps `write` (its payload as planned, urn:uuid references and all)."""
    return {
        "target": target,
        "resource_type": write.resource_type,
        "identifier": write.identifier,
        "patient_id": write.patient,
        "finding_key": write.finding_key,
        "rule": write.rule,
        "depends_on": orjson.dumps(write.depends_on).decode(),
        "payload": orjson.dumps(write.resource),
        "status": status,
        "last_error": message,
        "created_at": now,
        "updated_at": now,
    }


def from_outbox(row: OutboxEntry) -> PlannedWrite:
    """The write an outbox row keeps, to be sent again."""
    system, _, value = row.identifier.partition("|")
    return PlannedWrite(
        patient=row.patient_id,
        resource_type=row.resource_type,
        system=system,
        value=value,
        resource=orjson.loads(row.payload),
        finding_key=row.finding_key,
        rule=row.rule,
        depends_on=tuple((d[0], d[1], d[2]) for d in orjson.loads(row.depends_on)),
    )
