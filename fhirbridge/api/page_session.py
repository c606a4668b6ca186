"""Entrypoint: the patient page's server-side session, behind an opaque random cookie.

The browser holds only 32 random bytes (HttpOnly, SameSite=Lax). The server keeps the launch
state, then the patient in context and the EHR's access token, in the database
(store/page_sessions.py), found by SHA-256 of the cookie and sealed with AES-256-GCM under a
key derived from the cookie (HKDF-SHA256): the table alone opens no session and shows no token
or patient, and a session works across server processes. So the page URL never carries the
patient, and nothing about the patient reaches the logs.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine

from fhirbridge.store.page_sessions import delete_session, get_session, put_session

COOKIE = "fhirbridge_page"
COOKIE_PATH = "/patient-page"
LAUNCH_LIFETIME = timedelta(minutes=10)  # from launch to callback: a login at the EHR
_COOKIE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)
_INFO = b"fhirbridge patient page session v1"


def new_cookie() -> str:
    return secrets.token_urlsafe(32)


def load(engine: Engine, cookie: str | None, now: datetime) -> dict[str, Any] | None:
    """The session behind a cookie; None for no cookie, a malformed, unknown or expired one."""
    if not cookie or not _COOKIE_SHAPE.match(cookie):
        return None
    sealed = get_session(engine, _row_key(cookie), now)
    if sealed is None or len(sealed) < 13:
        return None
    try:
        plain = AESGCM(_aead_key(cookie)).decrypt(
            sealed[:12], sealed[12:], _row_key(cookie).encode()
        )
    except InvalidTag:
        return None
    data = orjson.loads(plain)
    return data if isinstance(data, dict) else None


def save(
    engine: Engine, cookie: str, data: dict[str, Any], *, now: datetime, lifetime: timedelta
) -> None:
    """Seal `data` under the cookie's key and keep it until now + lifetime."""
    nonce = os.urandom(12)  # 96-bit random nonce; a fresh one on every write (NIST SP 800-38D)
    sealed = AESGCM(_aead_key(cookie)).encrypt(nonce, orjson.dumps(data), _row_key(cookie).encode())
    put_session(engine, _row_key(cookie), nonce + sealed, now + lifetime, now)


def drop(engine: Engine, cookie: str | None) -> None:
    if cookie and _COOKIE_SHAPE.match(cookie):
        delete_session(engine, _row_key(cookie))


def _row_key(cookie: str) -> str:
    return hashlib.sha256(b"row:" + cookie.encode("ascii")).hexdigest()


def _aead_key(cookie: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        cookie.encode("ascii")
    )
