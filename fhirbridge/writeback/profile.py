"""What a write-back target profile is. Pure: the Profile protocol and the options all share.

A profile decides what a kind of EHR receives: which resources a finding becomes, whether they
go to a server (through the ledger-backed publisher) or only into writeback-bundle.json, whether
the server takes updates or creates only, and a Provenance per write. The publisher and the
workflow know nothing else about it, so supporting another EHR is one new module plus its line
in profiles.PROFILES.

Options shared by every profile (`[writeback.profiles.<name>]` in the configuration):
- `rules`: write only findings of these rules; `exclude_rules`: never these (42 CFR Part 2 and
  local policy may forbid writing some findings to some systems at all).
- `provenance` (default true): a Provenance per write (Epic, for one, accepts none from apps).
- `security_labels`: overrides [writeback] security_labels for this target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Protocol

from fhirbridge.writeback.build import DEFAULT_SECURITY, DETECTED_ISSUE_CODES
from fhirbridge.writeback.plan import FindingState, PlannedWrite, WriteOptions

COMMON_OPTIONS = frozenset({"rules", "exclude_rules", "provenance", "security_labels"})


class Profile(Protocol):
    """A write-back target profile: a small frozen object, one module each."""

    @property
    def name(self) -> str: ...
    @property
    def sends(self) -> bool: ...  # writes to a FHIR server (needs its base URL)
    @property
    def bundle_file(self) -> bool: ...  # writes writeback-bundle.json
    @property
    def create_only(self) -> bool: ...  # the server takes creates only: a write is never updated
    @property
    def provenance(self) -> bool: ...  # a Provenance for each write
    @property
    def security(self) -> tuple[str, ...] | None: ...  # None: [writeback] security_labels
    @property
    def rules(self) -> RuleFilter: ...
    @property
    def resource_types(self) -> frozenset[str]: ...  # what it writes (Provenance aside)

    def plan(
        self, states: Sequence[FindingState], options: WriteOptions, *, written: Set[str]
    ) -> list[PlannedWrite]:
        """The writes for these findings (already filtered by `rules`).

        Args:
            written: identifiers ("system|value") the ledger records as written to this target;
                create-only profiles use it to announce an episode's end only if its start was.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFilter:
    """Which rules a target may receive: `only` (None: all) minus `never`."""

    only: frozenset[str] | None = None
    never: frozenset[str] = frozenset()

    def allows(self, rule: str | None) -> bool:
        """Aggregates (rule None: Flag, CarePlan, Provenance) are allowed; their content is not
        (they are built from allowed findings only)."""
        if rule is None:
            return True
        return (self.only is None or rule in self.only) and rule not in self.never

    def keep(self, states: Iterable[FindingState]) -> list[FindingState]:
        return [s for s in states if self.allows(s.finding.rule)]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommonOptions:
    rules: RuleFilter
    provenance: bool
    security: tuple[str, ...] | None


def common_options(
    options: Mapping[str, Any], *, allowed: Iterable[str] = (), provenance: bool = True
) -> CommonOptions:
    """Parse the shared options; `allowed` names the profile's own extra keys.

    Raises:
        ValueError: "<key>: <problem>" for an unknown key, rule, label or a wrong type.
    """
    known = COMMON_OPTIONS | frozenset(allowed)
    for key in options:
        if key not in known:
            raise ValueError(f"{key}: unknown option; valid: {', '.join(sorted(known))}")
    only = _rules(options, "rules")
    never = _rules(options, "exclude_rules") or frozenset()
    wants = options.get("provenance", provenance)
    if not isinstance(wants, bool):
        raise ValueError("provenance: must be true or false")
    security = options.get("security_labels")
    if security is not None:
        if not isinstance(security, list) or any(s not in DEFAULT_SECURITY for s in security):
            raise ValueError(f"security_labels: a list of {', '.join(DEFAULT_SECURITY)}")
        security = tuple(security)
    return CommonOptions(
        rules=RuleFilter(only=only, never=never), provenance=wants, security=security
    )


def _rules(options: Mapping[str, Any], key: str) -> frozenset[str] | None:
    if key not in options:
        return None
    names = options[key]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{key}: must be a list of rule ids")
    unknown = sorted(set(names) - DETECTED_ISSUE_CODES.keys())
    if unknown:
        raise ValueError(
            f"{key}: unknown rule {unknown[0]!r}; valid: {', '.join(DETECTED_ISSUE_CODES)}"
        )
    return frozenset(names)
