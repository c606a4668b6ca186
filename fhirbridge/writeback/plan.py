"""Pure: findings → the resources to write for each patient, in dependency order.

For each patient with open findings or findings resolved by this run: a DetectedIssue per
finding (resolved ones with a mitigation), one Flag per chart concern (active while any finding
of that concern is open, inactive with period.end when the last one resolves), and one CarePlan
(an activity per finding; resolved ones completed). References between them use the bundle's
urn:uuid fullUrls; the publisher replaces them with server ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirbridge.findings import Finding
from fhirbridge.writeback.build import (
    build_care_plan,
    build_detected_issue,
    build_flag,
    concern_of,
)
from fhirbridge.writeback.bundle import detected_issue_url


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedWrite:
    """One resource to write, keyed by its identifier."""

    patient: str
    resource_type: str
    system: str
    value: str
    resource: dict[str, Any]
    finding_key: str | None = None

    @property
    def identifier(self) -> str:
        return f"{self.system}|{self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteOptions:
    device: str = "Device/fhirbridge"
    security: tuple[str, ...] = ("PSY", "ETH")


def plan_writes(
    open_findings: Iterable[Finding],
    resolved: Iterable[Finding],
    *,
    first_seen: Mapping[str, date],
    as_of: date,
    options: WriteOptions | None = None,
) -> list[PlannedWrite]:
    """Every write for these findings, grouped by patient (sorted), dependencies first.

    Args:
        open_findings: findings that hold as of `as_of`.
        resolved: findings that stopped holding in this run.
        first_seen: finding key → the date it was first found; the DetectedIssue's identified
            date, so a finding seen again on a later day is the same resource, unchanged.
    """
    options = options or WriteOptions()
    by_patient: dict[str, tuple[list[Finding], list[Finding]]] = {}
    for finding in open_findings:
        by_patient.setdefault(finding.patient, ([], []))[0].append(finding)
    for finding in resolved:
        by_patient.setdefault(finding.patient, ([], []))[1].append(finding)
    writes: list[PlannedWrite] = []
    for patient in sorted(by_patient):
        opened, closed = by_patient[patient]
        writes.extend(_patient_writes(patient, opened, closed, first_seen, as_of, options))
    return writes


def _patient_writes(
    patient: str,
    opened: Sequence[Finding],
    closed: Sequence[Finding],
    first_seen: Mapping[str, date],
    as_of: date,
    options: WriteOptions,
) -> list[PlannedWrite]:
    kw: dict[str, Any] = {"device": options.device, "security": options.security}
    writes: list[PlannedWrite] = []
    seen = {f.key: first_seen.get(f.key, f.as_of) for f in (*opened, *closed)}
    for finding in sorted(opened, key=lambda f: (f.rule, f.key)):
        identified = dataclasses.replace(finding, as_of=seen[finding.key])
        writes.append(_write(patient, build_detected_issue(identified, **kw), finding.key))
    for finding in sorted(closed, key=lambda f: (f.rule, f.key)):
        identified = dataclasses.replace(finding, as_of=seen[finding.key])
        writes.append(
            _write(patient, build_detected_issue(identified, resolved_on=as_of, **kw), finding.key)
        )

    concerns: dict[str, tuple[list[Finding], list[Finding]]] = {}
    for finding in opened:
        if (concern := concern_of(finding.rule)) is not None:
            concerns.setdefault(concern.id, ([], []))[0].append(finding)
    for finding in closed:
        if (concern := concern_of(finding.rule)) is not None:
            concerns.setdefault(concern.id, ([], []))[1].append(finding)
    for concern_id in sorted(concerns):
        active, cleared = concerns[concern_id]
        behind = active or cleared
        flag = build_flag(
            patient,
            concern_id,
            behind,
            detected_issue_refs=[detected_issue_url(f.key) for f in behind],
            start=min(seen[f.key] for f in behind),
            end=None if active else as_of,
            **kw,
        )
        writes.append(_write(patient, flag, None))

    refs = {f.key: detected_issue_url(f.key) for f in (*opened, *closed)}
    care_plan = build_care_plan(
        patient,
        opened,
        as_of=as_of,
        detected_issue_refs=refs,
        closed=[(f, "completed") for f in closed],
        **kw,
    )
    writes.append(_write(patient, care_plan, None))
    return writes


def _write(patient: str, resource: dict[str, Any], finding_key: str | None) -> PlannedWrite:
    key = resource["identifier"][0]
    return PlannedWrite(
        patient=patient,
        resource_type=resource["resourceType"],
        system=key["system"],
        value=key["value"],
        resource=resource,
        finding_key=finding_key,
    )
