"""Entrypoint: operator API bearer tokens, stored hashed, each with a role.

The tokens file (`[api] tokens_file`) is TOML: `[[tokens]] name, role, sha256` where sha256 is
the hex SHA-256 of the token. Tokens are long random strings (`fhirbridge api-token new`), so a
fast hash is enough: there is nothing to brute-force as there would be with a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fhirbridge.tomlfiles import read_toml

ROLES = ("operator", "integrator", "read-only")
# What each role may do; an operator may do everything.
GRANTS: Mapping[str, frozenset[str]] = {
    "operator": frozenset({"read", "patient-data", "operate", "integrate"}),
    "integrator": frozenset({"read", "integrate"}),
    "read-only": frozenset({"read", "patient-data"}),
}
_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tokens": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "role", "sha256"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "role": {"enum": list(ROLES)},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
        }
    },
}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str

    def may(self, grant: str) -> bool:
        return grant in GRANTS[self.role]


@dataclass(frozen=True, slots=True)
class TokenTable:
    by_hash: Mapping[str, Principal]

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = hash_token(authorization[len("Bearer ") :].strip())
        for known, principal in self.by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def load_tokens(path: Path | None) -> TokenTable:
    """The token table; an empty one (every request refused) when no file is configured.

    Raises:
        ConfigError: the file cannot be read or does not match the schema.
    """
    if path is None:
        return TokenTable(by_hash={})
    data = read_toml(path, _SCHEMA)
    return TokenTable(
        by_hash={
            t["sha256"]: Principal(name=t["name"], role=t["role"]) for t in data.get("tokens", ())
        }
    )
