"""Pure: findings and their history → the chart resources to write, per patient, in dependency
order (the `fhir-full` resource set; `bundle-file` writes the same).

Every run plans every finding the store knows, open or resolved, from dates the store keeps
(first seen, episode start, resolved on), never from the run's date. So a run the day after a
finding resolved plans exactly what the run that resolved it did: nothing is re-opened, nothing
is forgotten, and the ledger sends nothing when nothing changed.

Per patient:
- a DetectedIssue per finding (identifiedDateTime = first seen); a resolved one carries a
  mitigation dated the day it resolved, and loses it when the finding returns (same resource);
- one Flag per chart concern (build.FLAG_CONCERNS): active while a finding of the concern holds,
  inactive with period.end when the last one resolves, active again (same Flag) when one returns;
  the period is the concern's latest continuous stretch of findings;
- one CarePlan, updated in place: an activity per finding, not-started while it holds, completed
  after; status completed when nothing holds.
References between them use the bundle's urn:uuid fullUrls; `depends_on` names the resources a
write refers to, so the publisher can replace them with server ids (or wait for them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirbridge.findings import Finding
from fhirbridge.writeback.build import (
    FINDING_SYSTEM,
    build_care_plan,
    build_detected_issue,
    build_flag,
    concern_of,
)
from fhirbridge.writeback.bundle import detected_issue_url

Dependency = tuple[str, str, str]  # (resource type, identifier system, identifier value)


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingState:
    """A finding with the dates of its lifecycle, as the store records them."""

    finding: Finding
    first_seen: date  # first identification: the DetectedIssue's identifiedDateTime
    opened_on: date  # start of the current episode (a finding found again starts a new one)
    resolved_on: date | None = None  # the day it was found to no longer hold; None while open

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedWrite:
    """One resource to write, keyed by its first identifier."""

    patient: str
    resource_type: str
    system: str
    value: str
    resource: dict[str, Any]
    finding_key: str | None = None
    rule: str | None = None
    depends_on: tuple[Dependency, ...] = ()  # resources it refers to by urn:uuid

    @property
    def identifier(self) -> str:
        return f"{self.system}|{self.value}"

    @property
    def key(self) -> tuple[str, str]:
        """The ledger key: (resource type, "system|value")."""
        return (self.resource_type, self.identifier)


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteOptions:
    device: str = "Device/fhirbridge"
    organization: str | None = None  # Provenance.agent.onBehalfOf
    security: tuple[str, ...] = ("PSY", "ETH")


def plan_writes(
    states: Iterable[FindingState], options: WriteOptions | None = None
) -> list[PlannedWrite]:
    """Every write for these findings, grouped by patient (sorted), dependencies first.

    Raises:
        ValueError: a finding of an unknown rule (build.DETECTED_ISSUE_CODES).
    """
    options = options or WriteOptions()
    by_patient: dict[str, list[FindingState]] = {}
    for state in states:
        by_patient.setdefault(state.finding.patient, []).append(state)
    writes: list[PlannedWrite] = []
    for patient in sorted(by_patient):
        ordered = sorted(by_patient[patient], key=lambda s: (s.finding.rule, s.finding.key))
        writes.extend(_patient_writes(patient, ordered, options))
    return writes


def _patient_writes(
    patient: str, states: Sequence[FindingState], options: WriteOptions
) -> list[PlannedWrite]:
    kw: dict[str, Any] = {"device": options.device, "security": options.security}
    writes: list[PlannedWrite] = []
    for state in states:
        identified = dataclasses.replace(state.finding, as_of=state.first_seen)
        resource = build_detected_issue(identified, resolved_on=state.resolved_on, **kw)
        writes.append(_write(patient, resource, finding=state.finding))

    by_concern: dict[str, list[FindingState]] = {}
    for state in states:
        if (concern := concern_of(state.finding.rule)) is not None:
            by_concern.setdefault(concern.id, []).append(state)
    for concern_id in sorted(by_concern):
        start, end, behind = _flag_period(by_concern[concern_id])
        flag = build_flag(
            patient,
            concern_id,
            [s.finding for s in behind],
            detected_issue_refs=[detected_issue_url(s.finding.key) for s in behind],
            start=start,
            end=end,
            **kw,
        )
        writes.append(_write(patient, flag, depends=[s.finding.key for s in behind]))

    # as_of is only checked by the builder (no finding may be later), never written: the latest
    # date the store knows about these findings.
    as_of = max(max(s.finding.as_of, s.resolved_on or s.finding.as_of) for s in states)
    care_plan = build_care_plan(
        patient,
        [s.finding for s in states if s.is_open],
        as_of=as_of,
        detected_issue_refs={s.finding.key: detected_issue_url(s.finding.key) for s in states},
        closed=[(s.finding, "completed") for s in states if not s.is_open],
        **kw,
    )
    writes.append(_write(patient, care_plan, depends=[s.finding.key for s in states]))
    return writes


def _flag_period(
    states: Sequence[FindingState],
) -> tuple[date, date | None, list[FindingState]]:
    """(start, end or None, the findings behind it) of a concern's latest continuous stretch.

    Each finding covers [opened_on, resolved_on) (an open one, onwards); stretches that touch or
    overlap merge. The Flag is active while the latest stretch is (then it names the open
    findings), else inactive from the stretch's last resolution (naming the stretch's findings).
    """
    ordered = sorted(states, key=lambda s: (s.opened_on, s.finding.key))
    stretches: list[tuple[date, date | None, list[FindingState]]] = []
    for state in ordered:
        if stretches and (stretches[-1][1] is None or state.opened_on <= stretches[-1][1]):
            start, end, members = stretches[-1]
            if end is None or state.resolved_on is None:
                stretches[-1] = (start, None, [*members, state])
            else:
                stretches[-1] = (start, max(end, state.resolved_on), [*members, state])
        else:
            stretches.append((state.opened_on, state.resolved_on, [state]))
    start, end, members = stretches[-1]
    if end is None:
        return start, None, [s for s in members if s.is_open]
    return start, end, members


def _write(
    patient: str,
    resource: dict[str, Any],
    *,
    finding: Finding | None = None,
    depends: Sequence[str] = (),
) -> PlannedWrite:
    key = resource["identifier"][0]
    return PlannedWrite(
        patient=patient,
        resource_type=resource["resourceType"],
        system=key["system"],
        value=key["value"],
        resource=resource,
        finding_key=finding.key if finding else None,
        rule=finding.rule if finding else None,
        depends_on=tuple(("DetectedIssue", FINDING_SYSTEM, k) for k in depends),
    )
