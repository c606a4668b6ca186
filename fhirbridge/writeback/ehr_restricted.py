"""Target profile `ehr-restricted`: only what Epic and Oracle Health accept from third parties.

Neither accepts Flag or CarePlan writes through its public FHIR API (Epic: read/search only;
Oracle: no Flag, CarePlan read only), so findings go into the chart as a DocumentReference
clinical note (both accept it; the default) or a Communication to the care team (Oracle), as the
option `resource` names; chart-level alerts are left to CDS Hooks cards (ehr-integration.md
sections 0 and 2). No Flag, no CarePlan, no DetectedIssue. Pure.

These servers take creates only, so a notice is an event, written once: one when a finding's
episode starts (identifier `<key>:<episode start>`), one when it ends (`...:resolved`, written
only if the start was announced to this target). A finding that returns starts a new episode and
a new notice; changes to an open finding's numbers are not re-announced.

Options (`[writeback.profiles.ehr-restricted]`), besides the shared ones (writeback/profile.py):
- `resource`: "DocumentReference" (default) or "Communication".
- `recipients`: for Communication, references added to the finding's prescribers, e.g.
  ["CareTeam/7"] (Practitioner, PractitionerRole, CareTeam, Organization, Group).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.writeback.build_notice import (
    NOTICE_SYSTEM,
    build_communication,
    build_document_reference,
    notice_value,
)
from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions
from fhirbridge.writeback.profile import RuleFilter, common_options

RESOURCES = ("DocumentReference", "Communication")
_RECIPIENT = re.compile(
    r"^(Practitioner|PractitionerRole|CareTeam|Organization|Group)/[A-Za-z0-9\-.]{1,64}$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EhrRestricted:
    name: str = "ehr-restricted"
    sends: bool = True
    bundle_file: bool = True
    create_only: bool = True  # Epic and Oracle: DocumentReference/Communication .Create only
    provenance: bool = True
    security: tuple[str, ...] | None = None
    rules: RuleFilter = field(default_factory=RuleFilter)
    resource: str = "DocumentReference"
    recipients: tuple[str, ...] = ()

    @property
    def resource_types(self) -> frozenset[str]:
        return frozenset({self.resource})

    def plan(
        self, states: Sequence[FindingState], options: WriteOptions, *, written: Set[str]
    ) -> list[PlannedWrite]:
        """An opening notice per open finding; a closing one per resolved, announced finding."""
        writes: list[PlannedWrite] = []
        ordered = sorted(
            self.rules.keep(states),
            key=lambda s: (s.finding.patient, s.finding.rule, s.finding.key),
        )
        for state in ordered:
            finding = state.finding
            if state.resolved_on is not None:
                opening = f"{NOTICE_SYSTEM}|{notice_value(finding, state.opened_on)}"
                if opening not in written:
                    continue  # never announced here: nothing to close
            resource = self._build(state, options)
            key = resource["identifier"][0]
            writes.append(
                PlannedWrite(
                    patient=finding.patient,
                    resource_type=self.resource,
                    system=key["system"],
                    value=key["value"],
                    resource=resource,
                    finding_key=finding.key,
                    rule=finding.rule,
                )
            )
        return writes

    def _build(self, state: FindingState, options: WriteOptions) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "opened_on": state.opened_on,
            "resolved_on": state.resolved_on,
            "device": options.device,
            "security": options.security,
        }
        if self.resource == "Communication":
            return build_communication(state.finding, recipients=self.recipients, **kw)
        return build_document_reference(state.finding, **kw)


def configure(options: Mapping[str, Any]) -> EhrRestricted:
    """The profile from `[writeback.profiles.ehr-restricted]` (ValueError: a bad option)."""
    common = common_options(options, allowed=("resource", "recipients"))
    resource = options.get("resource", "DocumentReference")
    if resource not in RESOURCES:
        raise ValueError(f"resource: {resource!r}; valid: {', '.join(RESOURCES)}")
    recipients = options.get("recipients", [])
    if not isinstance(recipients, list) or not all(
        isinstance(r, str) and _RECIPIENT.match(r) for r in recipients
    ):
        raise ValueError("recipients: a list of references like 'CareTeam/7'")
    if recipients and resource != "Communication":
        raise ValueError("recipients: only for resource = 'Communication'")
    return EhrRestricted(
        provenance=common.provenance,
        security=common.security,
        rules=common.rules,
        resource=resource,
        recipients=tuple(recipients),
    )
