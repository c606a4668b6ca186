"""Sync stage: SMART Backend Services authorization as a `requests.auth.AuthBase`.

client_credentials with a signed JWT client assertion
(hl7.org/fhir/smart-app-launch/backend-services.html, client-confidential-asymmetric.html):

- the token endpoint comes from `[base]/.well-known/smart-configuration` unless configured;
- the assertion is signed RS384 or ES384 with `kid` in its header; claims `iss` = `sub` = the
  client id, `aud` = the token URL, `exp` 4 minutes ahead (the spec allows at most 5, and the
  margin absorbs clock skew), a unique `jti`;
- no refresh token is issued, so a new assertion buys a new token: before the cached one
  expires (proactively), and once when the FHIR server answers 401 (`FhirClient` calls
  `refresh()` outside its retry budget).

Tokens and assertions never reach a log or an error message: errors carry the token endpoint's
URL path and its OAuth `error` / `error_description` (RFC 6749 §5.2), nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
import requests
import requests.auth

from fhirbridge.errors import FhirAuthError, FhirTransientError
from fhirbridge.sync.http import (
    NETWORK_ERRORS,
    TRANSIENT_STATUSES,
    parse_object,
    retry_after,
    url_path,
)
from fhirbridge.sync.keys import SigningKey

__all__ = ["ASSERTION_LIFETIME", "SmartBackendAuth", "discover_token_url"]

log = logging.getLogger(__name__)

ASSERTION_LIFETIME: Final = 240  # seconds; SMART: exp no more than five minutes in the future
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
_RENEW_MARGIN: Final = 60.0  # seconds before expiry a cached token is replaced
_MAX_WAIT: Final = 30.0  # seconds of retry-waits per token request


class SmartBackendAuth(requests.auth.AuthBase):
    """Bearer tokens from a SMART Backend Services token endpoint, cached and renewed.

    Thread-safe: Bulk Data downloads share one instance across threads.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        key: SigningKey,
        scopes: str,
        token_url: str | None = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        max_retries: int = 3,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Configure; the first token is fetched with the first request.

        Args:
            base_url: the FHIR base (for discovery).
            client_id: the id the EHR registered for this client.
            key: the signing key (`fhirbridge.sync.keys.load_signing_key`).
            scopes: the scope string to request (`fhirbridge.sync.scopes.requested`).
            token_url: the token endpoint; discovered when None.
            session: for discovery and token requests (never carries this auth).
            clock: seconds since the epoch (injected by tests).
        """
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.scopes = scopes
        self._key = key
        self._token_url = token_url
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._lifetime = 0.0
        self.granted_scope: str | None = None  # the token response's `scope`, when it sent one
        self.tokens_fetched = 0

    def __repr__(self) -> str:  # never the token
        return f"SmartBackendAuth(client_id={self.client_id!r}, token_url={self._token_url!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    @property
    def token_url(self) -> str:
        """The token endpoint, discovered on first use."""
        if self._token_url is None:
            self._token_url = discover_token_url(
                self.base_url, self._key.alg, self._session, self._timeout
            )
        return self._token_url

    def token(self) -> str:
        """A token valid for at least the renewal margin; fetched when missing or expiring."""
        with self._lock:
            margin = min(_RENEW_MARGIN, self._lifetime * 0.2)
            if self._token is None or self._clock() >= self._expires_at - margin:
                self._fetch()
            assert self._token is not None  # noqa: S101  (set by _fetch or it raised)
            return self._token

    def refresh(self) -> None:
        """Replace the token now (the server answered 401)."""
        with self._lock:
            self._fetch()

    def assertion(self) -> str:
        """A freshly signed client assertion JWT (public for the tests that verify it)."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,  # unique per assertion: servers reject a replayed jti
        }
        headers = {"kid": self._key.kid, "typ": "JWT"}
        return jwt.encode(claims, self._key.key, algorithm=self._key.alg, headers=headers)

    def _fetch(self) -> None:
        url = self.token_url
        _require_tls(url)
        where = url_path(url)
        attempt, waited = 0, 0.0
        while True:
            form = {
                "grant_type": "client_credentials",
                "scope": self.scopes,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(),  # a new jti on every attempt
            }
            try:
                response = self._session.post(
                    url, data=form, headers={"Accept": "application/json"}, timeout=self._timeout
                )
            except NETWORK_ERRORS as exc:
                error = FhirTransientError(
                    f"token endpoint {where} unreachable ({type(exc).__name__})", url=where
                )
                wait: float | None = None
            else:
                status = response.status_code
                body = parse_object(response.content) or {}
                if status == 200 and isinstance(body.get("access_token"), str):
                    self._accept(body)
                    return
                if status == 200 or (status < 500 and status not in TRANSIENT_STATUSES):
                    raise _refused(self.client_id, where, status, body)
                error = FhirTransientError(
                    f"token endpoint {where} → {status}", url=where, status=status
                )
                wait = retry_after(response)
            wait = min(wait if wait is not None else 0.5 * 2.0**attempt, _MAX_WAIT - waited)
            if attempt >= self._max_retries or wait < 0:
                raise error
            log.info("token endpoint %s: %s; retrying in %.1f s", where, error, wait)
            self._sleep(wait)
            waited += wait
            attempt += 1

    def _accept(self, body: dict[str, Any]) -> None:
        token_type = str(body.get("token_type", "bearer")).lower()
        if token_type != "bearer":  # noqa: S105  (a token type name, not a secret)
            raise FhirAuthError(f"token endpoint gave a {token_type!r} token; bearer expected")
        expires_in = body.get("expires_in")
        # SMART recommends 300 s; a response without expires_in is renewed after that long.
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        self._token = str(body["access_token"])
        self._lifetime = lifetime
        self._expires_at = self._clock() + lifetime
        self.granted_scope = body.get("scope") if isinstance(body.get("scope"), str) else None
        self.tokens_fetched += 1
        log.info("token for client %s: valid %.0f s", self.client_id, lifetime)


def discover_token_url(
    base_url: str, alg: str, session: requests.Session, timeout: float | tuple[float, float]
) -> str:
    """The token endpoint from `[base]/.well-known/smart-configuration`.

    Raises:
        FhirAuthError: no usable configuration, or the server does not accept `alg` or
            private_key_jwt (an operator must register another key or configure `token_url`).
        FhirTransientError: the server cannot be reached.
    """
    url = f"{base_url.rstrip('/')}/.well-known/smart-configuration"
    where = url_path(url)
    try:
        response = session.get(url, headers={"Accept": "application/json"}, timeout=timeout)
    except NETWORK_ERRORS as exc:
        raise FhirTransientError(f"GET {where}: unreachable ({type(exc).__name__})") from None
    config = parse_object(response.content) if response.status_code == 200 else None
    token_url = (config or {}).get("token_endpoint")
    if not isinstance(token_url, str) or not token_url:
        raise FhirAuthError(
            f"GET {where} → {response.status_code}: no token_endpoint; set token_url for "
            "this connection",
            url=where,
            status=response.status_code,
        )
    assert config is not None  # noqa: S101  (token_url came from it)
    methods = config.get("token_endpoint_auth_methods_supported")
    if isinstance(methods, list) and "private_key_jwt" not in methods:
        raise FhirAuthError(f"{where}: the server does not offer private_key_jwt client auth")
    algs = config.get("token_endpoint_auth_signing_alg_values_supported")
    if isinstance(algs, list) and alg not in algs:
        offered = ", ".join(str(a) for a in algs)
        raise FhirAuthError(f"{where}: the server does not accept {alg} assertions ({offered})")
    return token_url


def _require_tls(url: str) -> None:
    """Tokens only over TLS, except to this machine (tests, a local sidecar)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK:
        raise FhirAuthError(f"token endpoint {url_path(url)} is not https; refusing to send")


def _refused(client_id: str, where: str, status: int, body: dict[str, Any]) -> FhirAuthError:
    error = body.get("error") or "no access_token"
    description = body.get("error_description")
    detail = f"{error}: {description}" if isinstance(description, str) else str(error)
    return FhirAuthError(
        f"token endpoint {where} refused client {client_id!r} → {status} ({detail}); check "
        "client_id, the registered public key (kid) and the scopes",
        url=where,
        status=status,
    )
