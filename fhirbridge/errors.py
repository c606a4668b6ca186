"""The one exception tree of fhirbridge.

    FhirBridgeError
    ├── ConfigError            bad configuration or mapping file (file, path, problem): exit 2
    ├── SourceError            a path or URL that cannot be read as a source: exit 2
    ├── FhirError              talking to a FHIR server: exit 3 (unreachable, auth) or 1
    │   ├── FhirTransientError     408, 429, 5xx, connection failures: retried
    │   ├── FhirRejected           other 4xx: carries the OperationOutcome
    │   │   ├── FhirNotFound       404 / 410
    │   │   └── FhirConflict       412: a stale version; re-read, never retried blindly
    │   └── FhirAuthError          401 / 403, or a token endpoint that refused us
    ├── MappingError           a resource that cannot become a record (path, reason): dead-lettered
    │   └── NotApplicable          a well-formed resource analysis does not use (entered-in-error,
    │                              a proposal): counted as a skip, not dead-lettered
    └── DomainError            a domain invariant broken by the caller

Messages carry references, URLs and element paths, never resource bodies: resources here are
patient data (psychiatric and substance-use information) and must not reach logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FhirBridgeError(Exception):
    """Root of every error fhirbridge raises on purpose."""


class ConfigError(FhirBridgeError):
    """A configuration or mapping file is wrong: names the file, the path inside it, the problem."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {problem}")


class SourceError(FhirBridgeError):
    """A source that cannot be read at all (a missing path, an unsupported URL scheme)."""


class FhirError(FhirBridgeError):
    """A FHIR server answered badly or not at all."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class FhirTransientError(FhirError):
    """Worth retrying: 408, 429, 5xx or a network failure."""

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.retry_after = retry_after


class FhirRejected(FhirError):
    """The server refused the request (4xx); `outcome` is its OperationOutcome, if any."""

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        outcome: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.outcome = outcome


class FhirNotFound(FhirRejected):
    """404 or 410."""


class FhirConflict(FhirRejected):
    """412 Precondition Failed: the version we hold is stale, or a conditional matched several."""


class FhirAuthError(FhirError):
    """401 or 403, or the token endpoint refused the client."""


class MappingError(FhirBridgeError):
    """A resource cannot become a domain record; `path` is the FHIR element at fault."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NotApplicable(MappingError):
    """A valid resource that analysis ignores by design; counted, not dead-lettered."""


class DomainError(FhirBridgeError):
    """A domain function was called with inputs that break its contract."""


def outcome_text(outcome: Mapping[str, Any] | None) -> str:
    """The human text of an OperationOutcome: `details.text`, else `diagnostics`, per issue.

    Server diagnostics name elements and codes; they are what an operator needs to fix a rejection.
    """
    if not outcome:
        return ""
    parts: list[str] = []
    for issue in outcome.get("issue") or ():
        if not isinstance(issue, Mapping):
            continue
        text = (
            (issue.get("details") or {}).get("text")
            or issue.get("diagnostics")
            or issue.get("code")
        )
        if text:
            expr = issue.get("expression") or issue.get("location") or ()
            where = f" ({', '.join(str(e) for e in expr)})" if expr else ""
            parts.append(f"{text}{where}")
    return "; ".join(parts)
