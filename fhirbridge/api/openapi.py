"""The operator API's OpenAPI 3.0 document, served at /api/v1/openapi.json (hand-written: it is
the contract operators script against, and tests run schemathesis against it)."""

from __future__ import annotations

from typing import Any

_OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": "error", "content": {"application/fhir+json": {"schema": _OUTCOME}}}
        for c in codes
    }


def _ok(schema: dict[str, Any], code: int = 200) -> dict[str, Any]:
    return {str(code): {"description": "ok", "content": {"application/json": {"schema": schema}}}}


_NULLABLE_STR = {"type": "string", "nullable": True}
_PID = {
    "name": "pid",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
}
_RUN = {
    "type": "object",
    "required": ["id", "command", "source", "as_of", "started_at", "finished_at", "status"],
    "properties": {
        "id": {"type": "integer"},
        "command": {"type": "string"},
        "source": _NULLABLE_STR,
        "as_of": _NULLABLE_STR,
        "started_at": {"type": "string"},
        "finished_at": _NULLABLE_STR,
        "status": {"type": "string", "enum": ["running", "ok", "failed"]},
        "report": {"type": "object", "nullable": True},
    },
}
_FINDING = {
    "type": "object",
    "required": [
        "key",
        "rule",
        "category",
        "severity",
        "patient",
        "summary",
        "implicated",
        "status",
        "first_seen",
        "last_seen",
    ],
    "properties": {
        "key": {"type": "string"},
        "rule": {"type": "string"},
        "category": {"type": "string"},
        "severity": {"type": "string", "enum": ["high", "moderate", "low"]},
        "patient": {"type": "string"},
        "summary": {"type": "string"},
        "detail": {"type": "string"},
        "implicated": {"type": "array", "items": {"type": "string"}},
        "evidence": {"type": "array", "items": {"type": "string"}},
        "prescribers": {"type": "array", "items": {"type": "string"}},
        "authority": {"type": "string"},
        "as_of": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "resolved"]},
        "first_seen": {"type": "string"},
        "last_seen": {"type": "string"},
        "resolved_on": _NULLABLE_STR,
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "fhirbridge operator API", "version": "1"},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "OperationOutcome": {
                "type": "object",
                "required": ["resourceType", "issue"],
                "properties": {
                    "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                    "issue": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    },
    "paths": {
        "/runs": {
            "get": {
                "summary": "Recorded runs, newest first",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }
                ],
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["runs"],
                            "properties": {"runs": {"type": "array", "items": _RUN}},
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            },
            "post": {
                "summary": "Start a run (sync, analyze, write back) from a FHIR server",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "source": {"type": "string", "pattern": "^https?://"},
                                    "as_of": {"type": "string", "format": "date"},
                                    "target": {
                                        "type": "string",
                                        "enum": ["bundle-file", "fhir-full", "none"],
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string"},
                                "as_of": {"type": "string"},
                                "target": {"type": "string"},
                            },
                        },
                        202,
                    ),
                    **_errors(400, 401, 403),
                },
            },
        },
        "/runs/{run_id}": {
            "get": {
                "summary": "One run with its report",
                "parameters": [
                    {
                        "name": "run_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {**_ok(_RUN), **_errors(401, 403, 404)},
            }
        },
        "/dead-letters": {
            "get": {
                "summary": "Unusable input with its reason (bodies are not returned)",
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["dead_letters"],
                            "properties": {
                                "dead_letters": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["id", "reason"],
                                        "properties": {
                                            "id": {"type": "integer"},
                                            "source": {"type": "string"},
                                            "location": _NULLABLE_STR,
                                            "resource_type": _NULLABLE_STR,
                                            "resource_id": _NULLABLE_STR,
                                            "reason": {"type": "string"},
                                            "created_at": {"type": "string"},
                                        },
                                    },
                                }
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/dead-letters/{letter_id}/retry": {
            "post": {
                "summary": "Ingest a dead letter again",
                "parameters": [
                    {
                        "name": "letter_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["id", "outcome"],
                            "properties": {
                                "id": {"type": "integer"},
                                "outcome": {"type": "string", "enum": ["stored", "still-unusable"]},
                                "reason": _NULLABLE_STR,
                            },
                        }
                    ),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/patients/{pid}/findings": {
            "get": {
                "summary": "A patient's findings, open and resolved (audited)",
                "parameters": [_PID],
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["patient", "findings"],
                            "properties": {
                                "patient": {"type": "string"},
                                "findings": {"type": "array", "items": _FINDING},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/patients/{pid}/adherence": {
            "get": {
                "summary": "A patient's adherence measures as of a date (audited)",
                "parameters": [
                    _PID,
                    {
                        "name": "as_of",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "format": "date"},
                    },
                ],
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["patient", "as_of", "adherence"],
                            "properties": {
                                "patient": {"type": "string"},
                                "as_of": {"type": "string"},
                                "adherence": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/outbox": {
            "get": {
                "summary": "Write-backs waiting for the next run (payloads are not returned)",
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["entries"],
                            "properties": {
                                "entries": {"type": "array", "items": {"type": "object"}}
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/findings/{key}/acknowledge": {
            "post": {
                "summary": "Acknowledge or override a finding (suppressed until its inputs change)",
                "parameters": [
                    {
                        "name": "key",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["reason"],
                                "properties": {
                                    "reason": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": 500,
                                        "pattern": "[^ \\t\\n]",
                                    },
                                    "kind": {
                                        "type": "string",
                                        "enum": ["acknowledged", "overridden"],
                                    },
                                    "by": {"type": "string", "maxLength": 200},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["key", "kind", "patient"],
                            "properties": {
                                "key": {"type": "string"},
                                "kind": {"type": "string"},
                                "patient": {"type": "string"},
                            },
                        },
                        201,
                    ),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/ledger": {
            "get": {
                "summary": "The write-back ledger",
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["entries"],
                            "properties": {
                                "entries": {"type": "array", "items": {"type": "object"}}
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
    },
}
