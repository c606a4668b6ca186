"""The registry of write-back target profiles (CONTRACT.md `--target`, `connections.target`).

Explicit and hand-ordered (STYLE.md row 13): the order is the CLI's. Adding a profile for
another EHR is one module exposing `configure(options) -> Profile` and its line here
(settings.TARGETS and cli.TARGETS list the same names; tests/unit/test_writeback_profiles.py
checks that they agree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fhirbridge.writeback import bundle_file, ehr_restricted, fhir_full, none
from fhirbridge.writeback.profile import Profile

PROFILES: dict[str, Callable[[Mapping[str, Any]], Profile]] = {
    "bundle-file": bundle_file.configure,  # default for a path source: writeback-bundle.json
    "fhir-full": fhir_full.configure,  # DetectedIssue, Flag, CarePlan, Provenance to a server
    "ehr-restricted": ehr_restricted.configure,  # notes or messages only (Epic, Oracle Health)
    "none": none.configure,
}


def load_profile(name: str, options: Mapping[str, Any] | None = None) -> Profile:
    """The profile `name`, configured with its `[writeback.profiles.<name>]` options.

    Raises:
        ValueError: an unknown name (listing the valid ones), or "<option>: <problem>".
    """
    try:
        configure = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; valid: {', '.join(PROFILES)}") from None
    return configure(options or {})
