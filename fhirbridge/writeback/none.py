"""Target profile `none`: write nothing back (analysis only; no bundle file, no server). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions
from fhirbridge.writeback.profile import RuleFilter, common_options


@dataclass(frozen=True, slots=True, kw_only=True)
class NoWriteBack:
    name: str = "none"
    sends: bool = False
    bundle_file: bool = False
    create_only: bool = False
    provenance: bool = False
    security: tuple[str, ...] | None = None
    rules: RuleFilter = field(default_factory=RuleFilter)
    resource_types: frozenset[str] = frozenset()

    def plan(
        self, states: Sequence[FindingState], options: WriteOptions, *, written: Set[str]
    ) -> list[PlannedWrite]:
        return []


def configure(options: Mapping[str, Any]) -> NoWriteBack:
    """The profile; only the shared options are accepted, and none of them matters."""
    common_options(options)
    return NoWriteBack()
