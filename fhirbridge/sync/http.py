"""Sync stage: HTTP helpers the FHIR client, the auth and the Bulk Data client share.

Error classification (status → `fhirbridge.errors` class, with the OperationOutcome text),
`Retry-After` parsing (delta-seconds or HTTP-date), response bodies parsed with orjson, and the
URL rules: same-origin checks and URLs stripped of query strings before they reach a log or an
error (a search by identifier is patient data).
"""

from __future__ import annotations

import email.utils
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

import orjson
import requests

from fhirbridge.errors import (
    FhirAuthError,
    FhirConflict,
    FhirError,
    FhirNotFound,
    FhirRejected,
    FhirTransientError,
    outcome_text,
)

FHIR_JSON: Final = "application/fhir+json"
TRANSIENT_STATUSES: Final = frozenset({408, 429})  # plus every 5xx
# Statuses that mean the server did not act on the request, so even a non-idempotent POST may be
# resent: 408 (RFC 9110 §15.5.9), 429 (RFC 6585 §4), 503 (RFC 9110 §15.6.4).
NOT_PROCESSED_STATUSES: Final = frozenset({408, 429, 503})
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Failures while a response body is read: the connection dropped mid-body, or the body was cut
# short of its Content-Length (urllib3 enforces it). Both mean "send again", like a reset.
NETWORK_ERRORS: Final = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class SearchExpired(FhirError):
    """A next page the server no longer has: 410, or an OperationOutcome instead of a Bundle.

    Paging state is only kept for a while (HAPI #7220: the search cache expired before the
    client finished). The caller restarts the search from its cursor.
    """


class ForeignNextLink(FhirError):
    """A next link that leaves the server origin: refused, never requested (auth must not leak)."""


class NetworkStats:
    """Counts of what the network did to a client, for the run report. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def as_report(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.counts.items()))


def classify(method: str, path: str, url: str, response: requests.Response) -> FhirError:
    """The `fhirbridge.errors` class for a status of 400 or more, with its OperationOutcome text."""
    status = response.status_code
    outcome = operation_outcome(response)
    text = outcome_text(outcome)
    message = f"{method} {path} → {status}" + (f": {text}" if text else "")
    where = url_path(url)
    if status in TRANSIENT_STATUSES or status >= 500:
        return FhirTransientError(
            message, url=where, status=status, retry_after=retry_after(response)
        )
    if status in (401, 403):
        return FhirAuthError(message, url=where, status=status)
    if status in (404, 410):
        return FhirNotFound(message, url=where, status=status, outcome=outcome)
    if status == 412:
        return FhirConflict(message, url=where, status=status, outcome=outcome)
    return FhirRejected(message, url=where, status=status, outcome=outcome)


def operation_outcome(response: requests.Response) -> dict[str, Any] | None:
    """The OperationOutcome in a body, or None if the body is anything else."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def retry_after(response: requests.Response, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` (delta-seconds or an HTTP-date).

    RFC 9110 §10.2.3 allows both forms (cumulus-etl PR #374 met the date form in the wild).
    Azure's FHIR service sends milliseconds in `x-ms-retry-after-ms` (microsoft/fhir-server
    PR #1639); it is used when `Retry-After` is absent.
    """
    value = (response.headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" parses as naive; HTTP-dates are always GMT
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    millis = (response.headers.get("x-ms-retry-after-ms") or "").strip()
    return int(millis) / 1000 if millis.isdigit() else None


def server_date(response: requests.Response) -> datetime | None:
    """The server's clock from the `Date` header (second resolution), or None."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_object(content: bytes) -> dict[str, Any] | None:
    """A body parsed as a JSON object, or None when it is not one (truncated, HTML, empty)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def json_object(response: requests.Response, method: str) -> dict[str, Any]:
    """The response body as a dict.

    Raises:
        FhirError: the body is not a JSON object (named by method and path, not by content).
    """
    body = parse_object(response.content)
    if body is None:
        path = urlsplit(response.url).path
        raise FhirError(f"{method} {path}: response is not a JSON object", url=path)
    return body


def next_link(bundle: Mapping[str, Any]) -> str | None:
    """The `url` of `Bundle.link[relation=next]`, if any."""
    for link in bundle.get("link") or ():
        if isinstance(link, Mapping) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def resource_type_of(resource: Mapping[str, Any]) -> str:
    type_ = resource.get("resourceType")
    if not isinstance(type_, str) or not type_:
        raise ValueError("resource has no resourceType")
    return type_


def resource_path(type_: str, id_: str) -> str:
    # Quoted so an id can never add path segments or a query.
    return f"{quote(type_, safe='')}/{quote(id_, safe='')}"


def etag(if_match: str) -> str:
    """An If-Match value: an ETag as given, or a bare versionId as a weak ETag."""
    return if_match if if_match.startswith(('W/"', '"')) else f'W/"{if_match}"'


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a malformed port never matches
        port = -1
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def url_path(url: str) -> str:
    """`url` without credentials, query or fragment: what may go into errors and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else parts.path
