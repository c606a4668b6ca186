"""Entrypoint: verify the JWT an EHR sends with each CDS Hooks call (CDS Hooks 2.0, "Trusting
CDS Clients"): signature from the issuer's JWKS (issuers on an allowlist), `aud` equal to the
service URL that was called, `exp` in the future, `jti` never seen before.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

# CDS Hooks 2.0 names ES384 and RS384; the others of the same families are accepted too.
ALGORITHMS = ["ES384", "RS384", "ES256", "RS256", "ES512", "RS512"]
LEEWAY_S = 30  # clock skew between EHR and service


class CdsAuthError(Exception):
    """The request's JWT is missing or fails a check; the message says which (never the token)."""


@dataclass(frozen=True, slots=True)
class CdsClient:
    issuer: str
    jwks_url: str


class ReplayCache:
    """jti values seen, kept until their token expires.

    Per process: with several server processes a replay could reach another one within the
    token's lifetime (at most minutes); a shared store would close that (noted in the README).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def check_and_add(self, key: str, expires: float) -> bool:
        """True if new (and now remembered), False if already seen and not yet expired."""
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            if self._seen.get(key, 0) > now:
                return False
            self._seen[key] = expires + LEEWAY_S
            return True


class CdsVerifier:
    """Verifies CDS client JWTs against an issuer allowlist."""

    def __init__(self, clients: Mapping[str, CdsClient], replay: ReplayCache | None = None) -> None:
        self._clients = dict(clients)
        self._jwks: dict[str, jwt.PyJWKClient] = {
            issuer: jwt.PyJWKClient(client.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            for issuer, client in self._clients.items()
        }
        self._replay = replay or ReplayCache()

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of `Authorization: Bearer <jwt>` for a call to `audience`.

        Raises:
            CdsAuthError: no token, unknown issuer, bad signature, wrong aud, expired, replayed.
        """
        if not authorization or not authorization.startswith("Bearer "):
            raise CdsAuthError("missing bearer JWT")
        token = authorization[len("Bearer ") :].strip()
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise CdsAuthError("malformed JWT") from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._jwks:
            raise CdsAuthError("issuer is not an allowed CDS client")
        try:
            key = self._jwks[issuer].get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError:
            raise CdsAuthError("no matching key in the issuer's JWKS") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=audience,
                issuer=issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "aud", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise CdsAuthError("JWT expired") from None
        except jwt.InvalidAudienceError:
            raise CdsAuthError("JWT aud is not this service's URL") from None
        except jwt.MissingRequiredClaimError as exc:
            raise CdsAuthError(f"JWT lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise CdsAuthError("JWT signature or claims invalid") from None
        if not self._replay.check_and_add(f"{issuer}|{claims['jti']}", float(claims["exp"])):
            raise CdsAuthError("JWT jti was already used")
        return claims


def _peek(token: str) -> tuple[str, str | None]:
    """(iss, kid) of an unverified JWT; CdsAuthError when it is not a JWS compact token."""
    parts = token.split(".")
    if len(parts) != 3:
        raise CdsAuthError("malformed JWT")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise CdsAuthError("malformed JWT") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise CdsAuthError("malformed JWT")
    issuer, kid = payload.get("iss"), header.get("kid")
    if not isinstance(issuer, str):
        raise CdsAuthError("issuer is not an allowed CDS client")
    return issuer, kid if isinstance(kid, str) else None
