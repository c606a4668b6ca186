"""Reading fhirbridge's TOML files (configuration, code tables, mappings, tokens) the one way:
parse, validate against a JSON Schema, and on any problem raise a ConfigError that names the
file, the path inside it and the problem (CONTRACT.md "Configuration")."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from fhirbridge.errors import ConfigError


def read_toml(
    path: Path | str, schema: Mapping[str, Any] | None = None, *, kind: str = ""
) -> dict[str, Any]:
    """The parsed file, checked against `schema` when one is given.

    Args:
        kind: a word for error messages ("mapping": "cannot read mapping: ...").

    Raises:
        ConfigError: unreadable, not TOML, or not what the schema says.
    """
    name = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            name, "", f"cannot read{' ' + kind if kind else ''}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, "", f"not valid TOML: {exc}") from None
    if schema is not None:
        check_schema(data, schema, name)
    return data


def check_schema(data: Any, schema: Mapping[str, Any], name: str) -> None:
    """Raise a ConfigError for the most relevant schema violation, if there is one."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data)
    )
    if error is not None:
        raise ConfigError(name, "/".join(str(p) for p in error.absolute_path), error.message)
