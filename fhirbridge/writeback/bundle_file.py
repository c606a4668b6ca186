"""Target profile `bundle-file`: the `fhir-full` resources written only to writeback-bundle.json,
a transaction Bundle of conditional requests for review or a later upload; nothing is sent.
The default for a file or directory source (CONTRACT.md). Pure.

Options: only the shared ones (writeback/profile.py); `provenance` does not apply (the Bundle
always carries a Provenance per patient, as one transaction is one write).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions, plan_writes
from fhirbridge.writeback.profile import RuleFilter, common_options


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleFile:
    name: str = "bundle-file"
    sends: bool = False
    bundle_file: bool = True
    create_only: bool = False
    provenance: bool = True
    security: tuple[str, ...] | None = None
    rules: RuleFilter = field(default_factory=RuleFilter)
    resource_types: frozenset[str] = frozenset({"DetectedIssue", "Flag", "CarePlan"})

    def plan(
        self, states: Sequence[FindingState], options: WriteOptions, *, written: Set[str]
    ) -> list[PlannedWrite]:
        return plan_writes(self.rules.keep(states), options)


def configure(options: Mapping[str, Any]) -> BundleFile:
    """The profile from `[writeback.profiles.bundle-file]` (ValueError: a bad option)."""
    common = common_options(options)
    return BundleFile(security=common.security, rules=common.rules)
