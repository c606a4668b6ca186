"""Sync stage: the client's signing keys for SMART Backend Services, and their public JWKS.

`fhirbridge keys generate` writes a key pair (a PEM private key, mode 0600, and `jwks.json`);
the EHR registers the public JWKS, by URL or by value. `public_jwks` is the document
`fhirbridge serve` publishes (pure: keys in, dict out); `configured_jwks` builds it from the
key files the connections name.

Algorithms: RS384 and ES384, the two SMART asks servers to support
(hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html). ES384 on P-384 by default,
as Medplum recommends; RSA keys are 3072 bits (NIST SP 800-57 for security past 2030).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fhirbridge.errors import ConfigError

ALGORITHMS: Final = ("ES384", "RS384")
_RSA_BITS: Final = 3072

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with the algorithm and key id the client assertion is signed with."""

    key: PrivateKey
    alg: str  # RS384 | ES384
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK with `kid`, `alg`, `use` and `key_ops` (no private members)."""
        jwk = public_jwk(self.key)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]}


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    """The public key as a bare JWK (kty and key members only)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
    return dict(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))


def thumbprint(key: PrivateKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): a stable key id derived from the key."""
    jwk = public_jwk(key)
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = orjson.dumps({m: jwk[m] for m in members}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def default_alg(key: PrivateKey) -> str:
    return "RS384" if isinstance(key, rsa.RSAPrivateKey) else "ES384"


def generate(alg: str = "ES384") -> PrivateKey:
    """A new private key for `alg`.

    Raises:
        ValueError: `alg` is not RS384 or ES384.
    """
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "RS384":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise ValueError(f"unsupported algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key_pair(directory: Path, alg: str = "ES384") -> tuple[Path, Path, str]:
    """Write `private-key.pem` (mode 0600) and `jwks.json` into `directory`.

    Returns:
        The private key path, the JWKS path and the key id.

    Raises:
        ValueError: an unsupported algorithm. FileExistsError: a private key is already there
        (never overwritten: the EHR may have its public half registered).
    """
    key = generate(alg)
    signing = SigningKey(key=key, alg=alg, kid=thumbprint(key))
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / "private-key.pem"
    # O_EXCL: refuse to replace a key; 0600 from the start, never world-readable for an instant.
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem(key))
    jwks = directory / "jwks.json"
    jwks.write_bytes(orjson.dumps(public_jwks([signing]), option=orjson.OPT_INDENT_2) + b"\n")
    return private, jwks, signing.kid


def load_signing_key(
    path: str, *, alg: str | None = None, kid: str | None = None, where: str = ""
) -> SigningKey:
    """Read a PEM private key named by the configuration.

    Args:
        path: the PEM file (PKCS#8 or traditional, unencrypted).
        alg: RS384 or ES384; default from the key type. Must match the key.
        kid: the key id; default the RFC 7638 thumbprint (what `keys generate` publishes).
        where: the configuration path, for errors.

    Raises:
        ConfigError: the file cannot be read, is not a private key, or does not fit `alg`.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        problem = f"cannot read: {exc.strerror}"
        raise ConfigError(where or path, "private_key_file", problem) from None
    return signing_key_from_pem(data, alg=alg, kid=kid, where=where or path)


def signing_key_from_pem(
    data: bytes, *, alg: str | None = None, kid: str | None = None, where: str = ""
) -> SigningKey:
    """A signing key from PEM bytes (a file's, or an environment variable's).

    Raises:
        ConfigError: not a private key, or one that does not fit `alg`.
    """
    path = where
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            where or path, "private_key_file", "not an unencrypted PEM private key"
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name != "secp384r1":
            raise ConfigError(where or path, "private_key_file", "ES384 needs a P-384 key")
    elif not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(where or path, "private_key_file", "use an RSA or EC P-384 key")
    chosen = alg or default_alg(key)
    if chosen != default_alg(key):
        raise ConfigError(where or path, "alg", f"{chosen} does not fit a {type(key).__name__}")
    return SigningKey(key=key, alg=chosen, kid=kid or thumbprint(key))


def public_jwks(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The JWKS document to publish: each key's public half once, by kid (pure)."""
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        found.setdefault(key.kid, key.public_jwk())
    return {"keys": [found[kid] for kid in sorted(found)]}
