"""Sync stage: SMART system scopes in both syntaxes, requested and granted.

SMART v1 spells read access `system/Observation.read`; v2 spells it `system/Observation.rs`
(read + search), and adds granular forms such as
`system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory`
(hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html). Oracle Health advertises both
syntaxes; US Core 7 requires servers to accept granular ones (ehr-integration.md §1.1). A token
response's `scope` may differ from what was asked for, so the types actually granted are read
back from it, whichever syntax the server answers in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_V1_READ = frozenset({"read", "*"})


def requested(types: Iterable[str], style: str = "v2") -> str:
    """The least-privilege scope string for reading `types`: one scope per type.

    Raises:
        ValueError: `style` is not v1 or v2.
    """
    if style not in ("v1", "v2"):
        raise ValueError(f"scope style must be v1 or v2, got {style!r}")
    suffix = "read" if style == "v1" else "rs"
    return " ".join(f"system/{t}.{suffix}" for t in sorted(set(types)))


@dataclass(frozen=True, slots=True)
class Grant:
    """What one granted scope allows: a type (or `*`) readable, perhaps only in part."""

    resource_type: str
    granular: bool  # a v2 scope with a query: only matching resources are readable


def grants(scope: str) -> list[Grant]:
    """The read grants in a scope string (system/, user/ or patient/ prefixes; v1 or v2)."""
    found: list[Grant] = []
    for token in scope.split():
        context, _, rest = token.partition("/")
        if context not in ("system", "user", "patient") or "." not in rest:
            continue  # launch, openid, fhirUser, offline_access, ...
        resource_type, _, permission = rest.partition(".")
        permission, _, query = permission.partition("?")
        if permission in _V1_READ or ("r" in permission and _is_v2(permission)):
            found.append(Grant(resource_type=resource_type, granular=bool(query)))
    return found


def _is_v2(permission: str) -> bool:
    # v2 permissions are letters from c, r, u, d, s in that order (cruds), each at most once.
    order = "cruds"
    positions = [order.find(ch) for ch in permission]
    return bool(permission) and -1 not in positions and positions == sorted(set(positions))


def not_granted(types: Iterable[str], scope: str) -> list[str]:
    """The types among `types` that `scope` gives no read access to (sorted)."""
    granted = grants(scope)
    if any(g.resource_type == "*" for g in granted):
        return []
    readable = {g.resource_type for g in granted}
    return sorted(t for t in set(types) if t not in readable)


def partial(types: Iterable[str], scope: str) -> list[str]:
    """The types among `types` readable only through granular (filtered) scopes (sorted)."""
    granted = grants(scope)
    whole = {g.resource_type for g in granted if not g.granular}
    if "*" in whole:
        return []
    part = {g.resource_type for g in granted if g.granular}
    return sorted(t for t in set(types) if t in part and t not in whole)
