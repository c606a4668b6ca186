"""Sync stage: a FHIR R4 REST client on one `requests.Session`.

Every call goes through `FhirClient._exchange`, the one place that builds URLs, sets headers and
auth, classifies failures into `fhirbridge.errors` and retries transient ones within a bounded
total wait. Responses are parsed with orjson into plain dicts; models are for what we emit.
Helpers (classification, `Retry-After`, origins) live in `fhirbridge.sync.http`.

Errors and log lines carry the method, the URL *path* and the server's OperationOutcome text,
never query strings (a search by identifier is patient data) and never request or response bodies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote, urljoin, urlsplit

import orjson
import requests
import requests.auth

from fhirbridge.errors import FhirError, FhirNotFound, FhirTransientError
from fhirbridge.sync.http import (
    DEFAULT_PORTS,
    FHIR_JSON,
    IDEMPOTENT_METHODS,
    NETWORK_ERRORS,
    NOT_PROCESSED_STATUSES,
    ForeignNextLink,
    NetworkStats,
    SearchExpired,
    classify,
    etag,
    json_object,
    next_link,
    origin,
    parse_object,
    resource_path,
    resource_type_of,
    server_date,
    url_path,
)

__all__ = ["FhirClient", "Page", "SearchParams", "WriteResult"]

log = logging.getLogger(__name__)

SearchParams = Mapping[str, str | int | Sequence[str]]
"""Search parameters; a sequence value repeats the key (`date=ge…&date=le…`)."""

_FIRST_BACKOFF: Final = 0.5  # seconds; doubles per attempt: 0.5, 1, 2, 4, ...


@dataclass(frozen=True, slots=True)
class Page:
    """One searchset Bundle with what incremental sync needs to know about its response."""

    bundle: dict[str, Any]
    url: str  # the URL it came from (may hold patient data in its query: never log it)
    server_date: datetime | None  # the server's `Date` header


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a create or update returned.

    `status` tells the cases apart: 201 created, 200 updated (or a conditional create that matched
    an existing resource and wrote nothing). `etag` (`W/"<versionId>"`) feeds a later `If-Match`.
    """

    resource: dict[str, Any]  # the server's copy; {} if it sent neither a body nor a Location
    status: int
    location: str | None  # Location header, absolute; usually [base]/Type/id/_history/vid
    etag: str | None


class FhirClient:
    """A FHIR R4 server at `base_url`, spoken to over one `requests.Session`.

    Use it as a context manager, or call `close()`; a session passed in stays the caller's to close.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (5, 60),
        max_retries: int = 4,
        max_wait: float = 60.0,
        auth: requests.auth.AuthBase | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "fhirbridge/0.1",
    ) -> None:
        """Configure the client; nothing is sent until the first call.

        Args:
            base_url: the FHIR base, e.g. `https://ehr.example/fhir/r4`.
            session: a session to reuse (its adapters, proxies, TLS settings); one is made if None.
            timeout: `(connect, read)` seconds, or one number for both, sent with every request.
            max_retries: how many times a transient failure is retried after the first attempt.
            max_wait: the most seconds spent sleeping between retries of one request, in total.
            auth: applied to every request to this server's origin, and to no other. If it has a
                `refresh()` method, that is called once when the server answers 401.
            sleep: how to wait between retries (injected by tests).
            user_agent: the `User-Agent` header.

        Raises:
            ValueError: `base_url` is not an absolute http(s) URL, or a limit is negative.
        """
        parts = urlsplit(base_url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if max_retries < 0 or max_wait < 0:
            raise ValueError("max_retries and max_wait must not be negative")
        self.base_url = base_url.rstrip("/")
        self._origin = origin(self.base_url)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._auth = auth
        self._sleep = sleep
        # Per request rather than on session.headers, so a session passed in is not changed.
        self._headers = {"Accept": FHIR_JSON, "User-Agent": user_agent}
        self.stats = NetworkStats()  # requests, retries by kind, refreshes: for the run report

    # -- public API ---------------------------------------------------------------------------

    def read(self, type_: str, id_: str) -> dict[str, Any]:
        """GET `[base]/type/id`.

        Returns:
            The resource as a dict.

        Raises:
            FhirNotFound: 404 or 410 (deleted). Other `FhirError`s as in `_request`.
        """
        return json_object(self._request("GET", resource_path(type_, id_)), "GET")

    def search(self, type_: str, params: SearchParams | None = None) -> Iterator[dict[str, Any]]:
        """Search `type_` and yield every `Bundle.entry.resource`, page after page, in order.

        Entries added by `_include`/`_revinclude` (`search.mode = include`) are yielded too, where
        the server put them; callers tell them apart by `resourceType`.

        Args:
            type_: the resource type, e.g. `MedicationDispense`.
            params: search parameters for the first page; later pages come from the server.

        Raises:
            FhirError: a next link that leaves the server origin or repeats. Others as `_request`.
        """
        for bundle in self.search_pages(type_, params):
            for entry in bundle.get("entry") or ():
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(resource, dict):
                    yield resource

    def search_pages(
        self, type_: str, params: SearchParams | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield each searchset Bundle, following `Bundle.link[relation=next]` until there is none.

        Raises:
            As `pages`.
        """
        for page in self.pages(type_, params):
            yield page.bundle

    def pages(self, type_: str, params: SearchParams | None = None) -> Iterator[Page]:
        """Yield each page of a search with its URL and server date, following next links.

        The next link is followed as an opaque URL, never rebuilt from page numbers or offsets
        (https://hl7.org/fhir/R4/http.html#paging; servers ignore `_getpagesoffset`, fhir-py #47).
        It may be relative to the host rather than the base (fhir-py #83), so it is resolved
        against the URL of the page that carried it.

        Raises:
            ForeignNextLink: the next link points at another origin (auth must never go there).
            SearchExpired: a next page answered 410, or an OperationOutcome instead of a Bundle.
            FhirError: a next link repeats (the server would page forever), or the first page is
                not a Bundle. Others as in `_exchange`.
        """
        response, bundle = self._exchange("GET", quote(type_, safe=""), params=params, want=True)
        seen: set[str] = set()
        first = True
        while True:
            assert bundle is not None  # noqa: S101  (want=True returns a parsed object)
            path = urlsplit(response.url).path
            if bundle.get("resourceType") != "Bundle":
                if not first and bundle.get("resourceType") == "OperationOutcome":
                    raise SearchExpired(f"GET {path}: next page gone (OperationOutcome)", url=path)
                raise FhirError(f"GET {path}: search did not return a Bundle", url=path)
            yield Page(bundle=bundle, url=response.url, server_date=server_date(response))
            link = next_link(bundle)
            if link is None:
                return
            next_url = urljoin(response.url, link)
            if origin(next_url) != self._origin:
                self.stats.add("refused:foreign-next-link")
                raise ForeignNextLink("next link leaves the server origin", url=url_path(next_url))
            if next_url in seen:
                raise FhirError("next link repeats: paging loop", url=url_path(next_url))
            seen.add(next_url)
            first = False
            try:
                response, bundle = self._exchange("GET", next_url, want=True)
            except FhirNotFound as exc:
                # 410 Gone is what HAPI answers for an expired search id; a 404 with an
                # OperationOutcome on a *next* page means the same on other servers.
                if exc.status == 410 or exc.outcome is not None:
                    raise SearchExpired(str(exc), url=exc.url, status=exc.status) from None
                raise

    def create(
        self, resource: Mapping[str, Any], *, if_none_exist: str | None = None
    ) -> WriteResult:
        """POST `[base]/Type`; with `if_none_exist`, a conditional create.

        Args:
            resource: the resource to create; `resourceType` names the endpoint.
            if_none_exist: a search query (`identifier=sys|val`). No match → 201 and a write; one
                match → 200 and no write; several → 412 (https://hl7.org/fhir/R4/http.html#ccreate).

        Returns:
            A `WriteResult`. If the server sent no body, the resource is read from `Location`.

        Raises:
            FhirConflict: several resources matched `if_none_exist`. Others as in `_request`.
        """
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else {}
        type_ = resource_type_of(resource)
        return self._write("POST", quote(type_, safe=""), resource, headers)

    def update(self, resource: Mapping[str, Any], *, if_match: str | None = None) -> WriteResult:
        """PUT `[base]/Type/id`; with `if_match`, only if the server still holds that version.

        Args:
            resource: the resource, with `resourceType` and `id`.
            if_match: an ETag (`W/"3"`) or a bare versionId (`3`, sent as `W/"3"`).

        Returns:
            A `WriteResult`: 200 updated, 201 created (if the server allows update-as-create).

        Raises:
            ValueError: the resource has no `id`.
            FhirConflict: 412, the version is stale; re-read, never retried blindly.
        """
        id_ = resource.get("id")
        if not isinstance(id_, str) or not id_:
            raise ValueError("update needs a resource with an id; use create or conditional_update")
        headers = {"If-Match": etag(if_match)} if if_match else {}
        return self._write("PUT", resource_path(resource_type_of(resource), id_), resource, headers)

    def conditional_update(
        self, type_: str, search_query: str, resource: Mapping[str, Any]
    ) -> WriteResult:
        """PUT `[base]/Type?search_query` (https://hl7.org/fhir/R4/http.html#cond-update).

        Zero matches creates (201), one updates (200), several → `FhirConflict` (412).

        Args:
            type_: the resource type.
            search_query: an already encoded query, e.g. `identifier=sys|val`.
            resource: the resource to store.
        """
        path = f"{quote(type_, safe='')}?{search_query.lstrip('?')}"
        return self._write("PUT", path, resource, {})

    def transaction(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """POST a transaction or batch Bundle to the base.

        Returns:
            The transaction-response Bundle.

        Raises:
            FhirRejected: the server refused the whole Bundle. Others as in `_request`.
        """
        return json_object(self._request("POST", "", json=bundle), "POST")

    def capabilities(self) -> dict[str, Any]:
        """GET `[base]/metadata`: the server's CapabilityStatement."""
        return json_object(self._request("GET", "metadata"), "GET")

    def send(
        self,
        method: str,
        url_or_path: str,
        *,
        params: SearchParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request through the retrying path, for operations outside plain REST
        (`$export` kick-off, status polls, DELETE of a job).

        Returns:
            The response; its status is below 400 (202 and 3xx included).

        Raises:
            As `_exchange`.
        """
        return self._request(method, url_or_path, params=params, headers=headers)

    @property
    def session(self) -> requests.Session:
        """The session, for streaming downloads that must not go through `send`."""
        return self._session

    @property
    def auth(self) -> requests.auth.AuthBase | None:
        return self._auth

    def same_origin(self, url: str) -> bool:
        """Whether `url` is on this server's origin (where auth may be sent)."""
        return origin(url) == self._origin

    def close(self) -> None:
        """Close the session, if this client made it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one request path -----------------------------------------------------------------

    def _request(
        self,
        method: str,
        url_or_path: str,
        *,
        params: SearchParams | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request, retrying transient failures; return a 2xx/3xx response.

        Raises:
            As `_exchange`.
        """
        response, _ = self._exchange(method, url_or_path, params=params, json=json, headers=headers)
        return response

    def _exchange(
        self,
        method: str,
        url_or_path: str,
        *,
        params: SearchParams | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        want: bool = False,
    ) -> tuple[requests.Response, dict[str, Any] | None]:
        """Send one request, retrying transient failures; return a 2xx/3xx response.

        Args:
            method: the HTTP method.
            url_or_path: a path relative to the base (`Patient/1`), or an absolute URL on the
                server's origin (a next link, a Location).
            params: query parameters.
            json: a body, sent as `application/fhir+json`.
            headers: extra headers for this request.
            want: the body must be a JSON object; one that is not (a page cut short, an HTML
                error page from a gateway) is a transient failure and the request is sent again.

        Returns:
            The response (its status is below 400) and, with `want`, its parsed body.

        Raises:
            FhirTransientError: 408, 429, 5xx, a network failure or (with `want`) a body that is
                not JSON, still failing once the retry budget (`max_retries`, `max_wait`) is spent
                or when resending is unsafe.
            FhirAuthError: 401 (after one `auth.refresh()`, if available) or 403.
            FhirNotFound: 404 or 410.
            FhirConflict: 412.
            FhirRejected: any other 4xx; `.outcome` is the OperationOutcome.
            FhirError: an absolute URL on another origin.
        """
        url = self._url(url_or_path)
        path = urlsplit(url).path
        send_headers = {**self._headers, **(headers or {})}
        body = None
        if json is not None:
            body = orjson.dumps(json)
            send_headers["Content-Type"] = FHIR_JSON
        # A POST may have been acted on before a read timeout or a 500; resending it could write
        # twice. Only a conditional create is safe to resend (RFC 9110 §9.2.2 on idempotency).
        idempotent = method in IDEMPOTENT_METHODS or "If-None-Exist" in send_headers
        refresh = getattr(self._auth, "refresh", None)
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            error: FhirTransientError
            self.stats.add("requests")
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=send_headers,
                    timeout=self._timeout,
                    auth=self._auth,
                )
            except NETWORK_ERRORS as exc:
                # Only the class name: requests' messages repeat the full URL, query included.
                where = "{0.scheme}://{0.netloc}".format(urlsplit(url))
                error = FhirTransientError(
                    f"{method} {path}: cannot reach {where} ({type(exc).__name__})",
                    url=url_path(url),
                )
                kind = "timeout" if isinstance(exc, requests.Timeout) else "connection"
                # A connect timeout means nothing was sent, so even a POST may go again.
                resendable = idempotent or isinstance(exc, requests.ConnectTimeout)
            else:
                status = response.status_code
                log.debug("%s %s → %s (attempt %d)", method, path, status, attempt)
                if status < 400:
                    parsed = parse_object(response.content) if want else None
                    if not want or parsed is not None:
                        return response, parsed
                    error = FhirTransientError(
                        f"{method} {path} → {status}: response is not a JSON object "
                        "(cut short or not FHIR)",
                        url=url_path(url),
                        status=status,
                    )
                    kind, resendable = "bad-body", idempotent
                else:
                    if status == 401 and not refreshed and callable(refresh):
                        # Tokens expire mid-run: refresh once, outside the retry budget
                        # (STYLE row 9; cumulus-etl re-authorizes once on 401).
                        refreshed = True
                        self.stats.add("auth-refresh-on-401")
                        log.info("%s %s → 401: refreshing credentials, retrying once", method, path)
                        refresh()
                        continue
                    classified = classify(method, path, url, response)
                    if not isinstance(classified, FhirTransientError):
                        raise classified
                    error, kind = classified, str(status)
                    resendable = idempotent or status in NOT_PROCESSED_STATUSES
            wait = self._wait(error, attempt, waited)
            if not resendable or attempt >= self._max_retries or wait is None:
                # Info, not warning: the caller reports the error itself, once.
                self.stats.add(f"gave-up:{kind}")
                log.info(
                    "%s %s → %s: giving up after %d attempt(s), %.1f s waited",
                    method,
                    path,
                    error.status or kind,
                    attempt + 1,
                    waited,
                )
                raise error
            self.stats.add(f"retried:{kind}")
            log.info(
                "%s %s → %s (attempt %d): retrying in %.1f s",
                method,
                path,
                error.status or kind,
                attempt + 1,
                wait,
            )
            self._sleep(wait)
            waited += wait
            attempt += 1

    def _wait(self, error: FhirTransientError, attempt: int, waited: float) -> float | None:
        """Seconds to sleep before the next attempt, or None when the wait budget is spent.

        A server's `Retry-After` is honoured as given: retrying sooner would only be throttled
        again, so when it asks for more than the budget left we give up now and the caller sees
        `retry_after` on the error. Without one, back off exponentially, trimmed to the budget.
        """
        remaining = self._max_wait - waited
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= remaining else None
        if remaining <= 0:
            return None
        return min(_FIRST_BACKOFF * 2.0**attempt, remaining)

    def _url(self, url_or_path: str) -> str:
        """An absolute URL on this server's origin, from a base-relative path or an absolute URL.

        Raises:
            FhirError: an absolute URL on another origin; auth would otherwise be sent there.
        """
        if urlsplit(url_or_path).scheme:
            if origin(url_or_path) != self._origin:
                raise FhirError("URL leaves the server origin", url=url_path(url_or_path))
            return url_or_path
        return f"{self.base_url}/{url_or_path.lstrip('/')}" if url_or_path else self.base_url

    def _write(
        self, method: str, path: str, resource: Mapping[str, Any], headers: Mapping[str, str]
    ) -> WriteResult:
        """Send a create or update and collect what the server said about it."""
        # Ask for the stored resource back; servers default to it, but may be set to minimal
        # (https://hl7.org/fhir/R4/http.html#ops).
        response = self._request(
            method, path, json=resource, headers={"Prefer": "return=representation", **headers}
        )
        location = response.headers.get("Location") or response.headers.get("Content-Location")
        if location:
            # RFC 9110 §10.2.2: a relative Location is resolved against the request URL.
            location = urljoin(response.url, location)
        tag = response.headers.get("ETag")
        if response.content.strip():
            body = json_object(response, method)
        elif location:
            read = self._request("GET", location)
            body = json_object(read, "GET")
            tag = tag or read.headers.get("ETag")
        else:
            body = {}
        return WriteResult(resource=body, status=response.status_code, location=location, etag=tag)
