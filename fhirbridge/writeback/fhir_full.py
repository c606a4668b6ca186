"""Target profile `fhir-full`: DetectedIssue, Flag, CarePlan and a Provenance per write, sent to
FHIR servers that accept them (HAPI, Smile, Medplum, Aidbox, Azure, Google: ARCHITECTURE.md), and
written to writeback-bundle.json. Pure.

Options: only the shared ones (writeback/profile.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions, plan_writes
from fhirbridge.writeback.profile import RuleFilter, common_options


@dataclass(frozen=True, slots=True, kw_only=True)
class FhirFull:
    name: str = "fhir-full"
    sends: bool = True
    bundle_file: bool = True
    create_only: bool = False  # the chart resources change in place over a finding's life
    provenance: bool = True
    security: tuple[str, ...] | None = None
    rules: RuleFilter = field(default_factory=RuleFilter)
    resource_types: frozenset[str] = frozenset({"DetectedIssue", "Flag", "CarePlan"})

    def plan(
        self, states: Sequence[FindingState], options: WriteOptions, *, written: Set[str]
    ) -> list[PlannedWrite]:
        return plan_writes(self.rules.keep(states), options)


def configure(options: Mapping[str, Any]) -> FhirFull:
    """The profile from `[writeback.profiles.fhir-full]` (ValueError: a bad option)."""
    common = common_options(options)
    return FhirFull(provenance=common.provenance, security=common.security, rules=common.rules)
