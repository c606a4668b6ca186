"""Test-side CDS client: an EHR's signing key, its JWKS served on 127.0.0.1, JWTs, and
prefetch built from the example data's NDJSON files."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from fhirbridge.examples import DATA_DIR

ISSUER = "https://ehr.example.org"
PREFETCH_TYPES = {
    "medicationRequests": "MedicationRequest",
    "medicationDispenses": "MedicationDispense",
    "medicationStatements": "MedicationStatement",
    "observations": "Observation",
    "conditions": "Condition",
}


class EhrKeys:
    """An EC P-384 key pair (ES384, as CDS Hooks 2.0 names) with its public JWKS."""

    def __init__(self, kid: str = "ehr-key-1") -> None:
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP384R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = {"keys": [{**public, "kid": kid, "alg": "ES384", "use": "sig"}]}

    def token(
        self, aud: str, *, exp_in: int = 300, jti: str | None = None, iss: str = ISSUER
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": iss,
            "sub": "ehr-client",
            "aud": aud,
            "iat": now,
            "exp": now + exp_in,
            "jti": jti or str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.private, algorithm="ES384", headers={"kid": self.kid})


@contextmanager
def serve_json(document: dict[str, Any]) -> Iterator[str]:
    """Serve one JSON document on a free 127.0.0.1 port; yields its URL."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def example_prefetch(patient_id: str) -> dict[str, Any]:
    """The prefetch an EHR would send for an example patient (searchset Bundles)."""
    prefetch: dict[str, Any] = {}
    for key, rtype in PREFETCH_TYPES.items():
        entries = []
        for line in (DATA_DIR / f"{rtype}.ndjson").read_bytes().splitlines():
            resource = orjson.loads(line)
            subject = (resource.get("subject") or resource.get("patient") or {}).get("reference")
            if subject == f"Patient/{patient_id}":
                entries.append({"resource": resource})
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    for line in (DATA_DIR / "Patient.ndjson").read_bytes().splitlines():
        resource = orjson.loads(line)
        if resource["id"] == patient_id:
            prefetch["patient"] = resource
    return prefetch


def hook_request(hook: str, patient_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "hookInstance": str(uuid.uuid4()),
        "hook": hook,
        "context": {"userId": "Practitioner/ex-prac-psy", "patientId": patient_id},
        **extra,
    }
