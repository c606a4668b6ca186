"""Settings: one frozen object from a TOML file and FHIRBRIDGE_<SECTION>_<KEY> variables.

Built once in the composition root (bootstrap.py) and passed in; nothing reads the environment
at import time. The file is validated with a JSON Schema at start-up, and a bad one stops
start-up with one line naming the file, the path inside it and the problem (CONTRACT.md).
A dataclass plus jsonschema, rather than pydantic-settings, because the contract asks for a
JSON Schema that integrators can read and for errors with TOML paths.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirbridge.adherence import params as adherence_params
from fhirbridge.adherence.rules import AdherenceParams
from fhirbridge.analysis import RULES, AnalysisParams, check_rules
from fhirbridge.errors import ConfigError
from fhirbridge.mappers.integrator import IntegratorMappings, load_mapping_files
from fhirbridge.reconciliation import RULE_PARAMS, SuppressionParams, build_params, params_schema
from fhirbridge.tomlfiles import check_schema, read_toml

DEFAULT_CONFIG = Path("config/fhirbridge.toml")
TARGETS = ("fhir-full", "ehr-restricted", "bundle-file", "none")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "database": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"url": {"type": "string", "minLength": 1}},
        },
        "analysis": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "window_days": {"type": "integer", "minimum": 30, "maximum": 3650},
                "pdc_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                # PQA: index date at least 91 days before the period end; 0 reports all.
                "pdc_min_period_days": {"type": "integer", "minimum": 0, "maximum": 365},
                "moud_includes_methadone": {"type": "boolean"},
                # Processes for the analyze stage; 0: one per CPU (analyze_stage.py).
                "workers": {"type": "integer", "minimum": 0, "maximum": 64},
                "enabled_rules": {"type": "array", "items": {"type": "string"}},
                "rules": {
                    "type": "object",
                    "propertyNames": {"enum": list(RULES)},  # a misspelt rule id stops start-up
                    "properties": {
                        # [analysis.rules.<rule id>] of the reconciliation rules, generated from
                        # their parameter dataclasses (types, bounds, known drug classes).
                        **{rule: params_schema(cls) for rule, (_, cls) in RULE_PARAMS.items()},
                        # ... and of the adherence and monitoring rules (adherence/params.py).
                        **{
                            rule: adherence_params.params_schema(cls)
                            for rule, (_, cls) in adherence_params.RULE_PARAMS.items()
                        },
                    },
                },
                "suppression": params_schema(SuppressionParams),
            },
        },
        "writeback": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "device": {"type": "string", "pattern": "^Device/[A-Za-z0-9\\-.]{1,64}$"},
                "organization": {
                    "type": "string",
                    "pattern": "^Organization/[A-Za-z0-9\\-.]{1,64}$",
                },
                "security_labels": {"type": "array", "items": {"enum": ["PSY", "ETH"]}},
                # [writeback.profiles.<target>]: options of one target profile; each profile
                # module checks its own (writeback/profile.py, e.g. ehr_restricted.py).
                "profiles": {
                    "type": "object",
                    "propertyNames": {"enum": list(TARGETS)},
                    "additionalProperties": {"type": "object"},
                },
            },
        },
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "base_url"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "base_url": {"type": "string", "pattern": "^https?://"},
                    "auth": {"enum": ["none", "smart-backend"]},
                    "client_id": {"type": "string", "minLength": 1},
                    "token_url": {"type": "string", "pattern": "^https?://"},
                    "private_key_file": {"type": "string", "minLength": 1},
                    "scopes": {"type": "string"},
                    "scope_style": {"enum": ["v2", "v1"]},  # system/X.rs or system/X.read
                    "kid": {"type": "string", "minLength": 1},
                    "alg": {"enum": ["RS384", "ES384"]},
                    "target": {"enum": list(TARGETS)},
                    "pull": {"enum": ["search", "bulk"]},
                    "group": {"type": "string", "pattern": "^(Group/)?[A-Za-z0-9\\-.]{1,64}$"},
                    "patients": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400},
                    "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                    "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
                },
            },
        },
        "cds_hooks": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "base_url": {"type": "string", "pattern": "^https?://"},
                "clients": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["issuer", "jwks_url"],
                        "properties": {
                            "issuer": {"type": "string", "minLength": 1},
                            "jwks_url": {"type": "string", "pattern": "^https?://"},
                        },
                    },
                },
            },
        },
        "api": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"tokens_file": {"type": "string", "minLength": 1}},
        },
        # The SMART on FHIR patient page (api/smart_launch.py): this app's registration at the
        # EHRs allowed to launch it. No client secret: a public client with PKCE (SMART 2.0).
        "smart_app": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "client_id": {"type": "string", "minLength": 1},
                "redirect_uri": {"type": "string", "pattern": "^https?://"},
                "scopes": {"type": "string", "minLength": 1},
                "issuers": {"type": "array", "items": {"type": "string", "pattern": "^https?://"}},
                "demo": {"type": "boolean"},
            },
        },
        "mappings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"paths": {"type": "array", "items": {"type": "string"}}},
        },
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """One EHR (tenant): its base URL, auth, target profile, and how it is pulled."""

    name: str
    base_url: str
    auth: str = "none"  # none | smart-backend
    target: str = "fhir-full"
    client_id: str | None = None
    token_url: str | None = None  # default: discovered from .well-known/smart-configuration
    private_key_file: str | None = None  # a path; secrets are never defaults or inline TOML
    # PEM text from FHIRBRIDGE_CONNECTIONS_<NAME>_PRIVATE_KEY (environment only); kept out of repr.
    private_key_pem: str | None = field(default=None, repr=False)
    scopes: str | None = None  # default: read scopes for the types pulled, in `scope_style`
    scope_style: str = "v2"
    kid: str | None = None  # default: the key's RFC 7638 thumbprint (what `keys generate` prints)
    alg: str | None = None  # default: from the key (RSA → RS384, P-384 → ES384)
    pull: str = "search"  # search (incremental _lastUpdated) | bulk ($export)
    group: str | None = None  # "Group/<id>": patient-scoped pulls and Group-level $export
    patients: tuple[str, ...] = ()  # patient-scoped pulls for these patients
    page_size: int = 200
    overlap_seconds: int = 300  # re-read window behind each cursor (ARCHITECTURE.md)
    timeout_seconds: float = 60.0
    max_retries: int = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class CdsClientSetting:
    """An EHR allowed to call the CDS Hooks service: its JWT issuer and JWKS URL."""

    issuer: str
    jwks_url: str


# Read scopes for what the patient page shows (SMART App Launch 2.0 scope syntax, `.rs`).
SMART_APP_SCOPES = (
    "launch openid fhirUser patient/Patient.rs patient/MedicationRequest.rs "
    "patient/MedicationDispense.rs patient/MedicationStatement.rs patient/Observation.rs "
    "patient/Condition.rs patient/Encounter.rs user/Medication.rs user/Practitioner.rs "
    "user/PractitionerRole.rs"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmartAppSetting:
    """[smart_app]: the patient page as a SMART app (EHR launch) and its demo mode."""

    client_id: str | None = None  # None: EHR launch is refused (the demo still works)
    redirect_uri: str | None = None  # default: <this server>/patient-page/callback
    scopes: str = SMART_APP_SCOPES
    issuers: tuple[str, ...] = ()  # FHIR base URLs (iss) allowed to launch the page
    demo: bool = True  # /patient-page/demo on the bundled constructed patients only


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything configurable, resolved."""

    database_url: str = "sqlite:///fhirbridge.db"
    analysis: AnalysisParams = field(default_factory=AnalysisParams)
    moud_includes_methadone: bool = False
    analysis_workers: int = 0  # processes for the analyze stage; 0: one per CPU
    device: str = "Device/fhirbridge"
    organization: str | None = None
    security_labels: tuple[str, ...] = ("PSY", "ETH")
    writeback_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # per target
    connections: tuple[Connection, ...] = ()
    mappings: IntegratorMappings = field(default_factory=IntegratorMappings)  # [mappings] paths
    mapping_patterns: tuple[str, ...] = ()  # the [mappings] paths globs, for reloading
    config_file: str | None = None
    cds_base_url: str | None = None  # the public URL EHRs call (the JWT aud is checked against it)
    cds_clients: tuple[CdsClientSetting, ...] = ()
    api_tokens_file: str | None = None  # hashed operator API tokens with roles (api/tokens.py)
    smart_app: SmartAppSetting = field(default_factory=SmartAppSetting)  # [smart_app]


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (default config/fhirbridge.toml when present) and the environment.

    Raises:
        ConfigError: naming the file (or variable), the path inside it and the problem.
    """
    environ = os.environ if environ is None else environ
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    data: dict[str, Any] = {}
    name = str(path) if path else "(defaults)"
    if path is not None:
        data = read_toml(path)
    _apply_environment(data, environ)
    _validate(data, SCHEMA, name)
    analysis = data.get("analysis", {})
    rules = analysis.get("rules", {})
    try:
        enabled = check_rules(analysis["enabled_rules"]) if "enabled_rules" in analysis else None
    except ValueError as exc:
        raise ConfigError(name, "analysis/enabled_rules", str(exc)) from None
    writeback = data.get("writeback", {})
    return Settings(
        database_url=data.get("database", {}).get("url", "sqlite:///fhirbridge.db"),
        analysis=AnalysisParams(
            adherence=AdherenceParams(
                window_days=analysis.get("window_days", 365),
                pdc_threshold=analysis.get("pdc_threshold", 0.80),
                min_period_days=analysis.get("pdc_min_period_days", 0),
            ),
            **{
                attr: adherence_params.build_params(cls, rules.get(rule, {}))
                for rule, (attr, cls) in adherence_params.RULE_PARAMS.items()
            },
            **{
                attr: build_params(cls, rules.get(rule, {}))
                for rule, (attr, cls) in RULE_PARAMS.items()
            },
            suppression=_suppression(analysis.get("suppression", {}), name),
            rules=enabled,
        ),
        moud_includes_methadone=analysis.get("moud_includes_methadone", False),
        analysis_workers=analysis.get("workers", 0),
        device=writeback.get("device", "Device/fhirbridge"),
        organization=writeback.get("organization"),
        security_labels=tuple(writeback.get("security_labels", ("PSY", "ETH"))),
        writeback_profiles=writeback.get("profiles", {}),
        connections=_connections(data.get("connections", ()), environ, name),
        mappings=load_mapping_files(data.get("mappings", {}).get("paths", ())),
        mapping_patterns=tuple(data.get("mappings", {}).get("paths", ())),
        config_file=str(path) if path else None,
        cds_base_url=data.get("cds_hooks", {}).get("base_url"),
        api_tokens_file=data.get("api", {}).get("tokens_file"),
        cds_clients=tuple(
            CdsClientSetting(**c) for c in data.get("cds_hooks", {}).get("clients", ())
        ),
        smart_app=_smart_app(data.get("smart_app", {}), name),
    )


def _smart_app(data: dict[str, Any], name: str) -> SmartAppSetting:
    """[smart_app]; a client id needs the issuers it may be launched from (no open launch)."""
    if data.get("client_id") and not data.get("issuers"):
        problem = "client_id needs issuers: the EHR FHIR base URLs allowed to launch the page"
        raise ConfigError(name, "smart_app", problem)
    values = {**data, "issuers": tuple(i.rstrip("/") for i in data.get("issuers", ()))}
    return SmartAppSetting(**values)


def _connections(items: Any, environ: Mapping[str, str], file: str) -> tuple[Connection, ...]:
    """Connections with their environment overrides, checked as combinations.

    `FHIRBRIDGE_CONNECTIONS_<NAME>_<KEY>` overrides `key` of the connection named NAME (upper
    case, other characters as `_`), e.g. `FHIRBRIDGE_CONNECTIONS_EPIC_PROD_CLIENT_ID`; the PEM
    text itself may come only from the environment, as `..._PRIVATE_KEY`.

    Raises:
        ConfigError: a duplicate name, or auth = "smart-backend" without a client id and a key.
    """
    found: list[Connection] = []
    for index, item in enumerate(items):
        values = dict(item)
        name = "".join(ch if ch.isalnum() else "_" for ch in str(values["name"]).upper())
        prefix = f"FHIRBRIDGE_CONNECTIONS_{name}_"
        for key in ("client_id", "token_url", "private_key_file", "scopes", "kid"):
            if environ.get(prefix + key.upper()):
                values[key] = environ[prefix + key.upper()]
        pem = environ.get(prefix + "PRIVATE_KEY") or None
        where = f"connections/{index}"
        if any(c.name == values["name"] for c in found):
            raise ConfigError(file, f"{where}/name", f"duplicate connection {values['name']!r}")
        if values.get("auth") == "smart-backend":
            if not values.get("client_id"):
                raise ConfigError(file, where, "auth = smart-backend needs client_id")
            if not values.get("private_key_file") and not pem:
                problem = f"auth = smart-backend needs private_key_file (or {prefix}PRIVATE_KEY)"
                raise ConfigError(file, where, problem)
        if values.get("group") and values.get("patients"):
            raise ConfigError(file, where, "give group or patients, not both")
        group = values.get("group")
        if group and not str(group).startswith("Group/"):
            values["group"] = f"Group/{group}"
        values["patients"] = tuple(values.get("patients", ()))
        found.append(Connection(**values, private_key_pem=pem))
    return tuple(found)


def _suppression(data: dict[str, Any], name: str) -> SuppressionParams:
    """[analysis.suppression], its exempt rules checked against the registry."""
    params: SuppressionParams = build_params(SuppressionParams, data)
    try:
        check_rules(params.exempt_rules)
    except ValueError as exc:
        raise ConfigError(name, "analysis/suppression/exempt_rules", str(exc)) from None
    return params


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """FHIRBRIDGE_<SECTION>_<KEY> overrides [section] key; values are read as TOML values."""
    sections = [s for s in SCHEMA["properties"] if SCHEMA["properties"][s]["type"] == "object"]
    for variable, raw in environ.items():
        if not variable.startswith("FHIRBRIDGE_"):
            continue
        rest = variable[len("FHIRBRIDGE_") :].lower()
        for section in sections:
            prefix = section + "_"
            if rest.startswith(prefix) and rest != prefix:
                try:
                    value = tomllib.loads(f"v = {raw}")["v"]
                except tomllib.TOMLDecodeError:
                    value = raw
                data.setdefault(section, {})[rest[len(prefix) :]] = value


def _validate(data: Any, schema: dict[str, Any], name: str) -> None:
    check_schema(data, schema, name)
