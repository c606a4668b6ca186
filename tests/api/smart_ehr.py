"""Test-side: a small SMART App Launch 2.0 EHR on 127.0.0.1 in front of the real FHIR test server.

It serves `/.well-known/smart-configuration`, `/authorize` (checks the request, then redirects
back to the app with a code and the app's state) and `/token` (authorization code grant for a
public client: checks the code, redirect_uri, client_id, and that BASE64URL(SHA256(verifier))
equals the challenge given at /authorize, computed here independently of the app). Every other
request must carry a bearer token it issued and is proxied to the FHIR server, with the Host
header kept so that Bundle links point back at this EHR.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


@dataclass
class EhrState:
    upstream: str  # the FHIR server, http://127.0.0.1:<port>
    client_id: str
    patient: str  # the FHIR id of the patient in context
    launch: str = "launch-7f3a"
    refuse_token: bool = False  # answer /token with 400 invalid_grant
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    fhir_requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code → authorize query
    tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/.well-known/smart-configuration":
            base = f"http://{self.headers['Host']}"
            return self._json(
                200,
                {
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "code_challenge_methods_supported": ["S256"],
                    "capabilities": ["launch-ehr", "client-public", "context-ehr-patient"],
                },
            )
        if path == "/authorize":
            return self._authorize({k: v[0] for k, v in parse_qs(query).items()})
        return self._proxy()

    def do_POST(self) -> None:
        if self.path == "/token":
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            return self._token(form)
        return self._json(405, {"error": "not here"})

    def _authorize(self, query: dict[str, str]) -> None:
        state = self.server.state
        with state.lock:
            state.authorize_requests.append(query)
        base = f"http://{self.headers['Host']}"
        if (
            query.get("response_type") != "code"
            or query.get("client_id") != state.client_id
            or query.get("launch") != state.launch
            or query.get("aud") != base
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            return self._json(400, {"error": "invalid_request"})
        code = uuid.uuid4().hex
        with state.lock:
            state.codes[code] = query
        back = {"code": code, "state": query.get("state", "")}
        self._send(302, {"Location": f"{query['redirect_uri']}?{urlencode(back)}"}, b"")

    def _token(self, form: dict[str, str]) -> None:
        state = self.server.state
        with state.lock:
            state.token_requests.append(form)
            asked = state.codes.pop(form.get("code", ""), None)
        if (
            state.refuse_token
            or asked is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != state.client_id
            or form.get("redirect_uri") != asked["redirect_uri"]
            or s256(form.get("code_verifier", "")) != asked["code_challenge"]
        ):
            return self._json(400, {"error": "invalid_grant"})
        token = uuid.uuid4().hex
        with state.lock:
            state.tokens.add(token)
        self._json(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": asked["scope"],
                "patient": state.patient,
                "need_patient_banner": True,
            },
        )

    def _proxy(self) -> None:
        state = self.server.state
        auth = self.headers.get("Authorization") or ""
        with state.lock:
            state.fhir_requests.append((self.path, auth))
            allowed = auth.startswith("Bearer ") and auth[7:] in state.tokens
        if not allowed:
            return self._json(401, {"resourceType": "OperationOutcome", "issue": []})
        upstream = urlsplit(state.upstream)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        try:
            conn.request("GET", self.path, headers=headers)
            response = conn.getresponse()
            content = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP}
        finally:
            conn.close()
        self._send(response.status, kept, content)

    def _json(self, status: int, body: Any) -> None:
        self._send(status, {"Content-Type": "application/json"}, orjson.dumps(body))

    def _send(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: EhrState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextmanager
def smart_ehr(upstream: str, *, client_id: str, patient: str) -> Iterator[tuple[str, EhrState]]:
    """Run the EHR; yields its base URL (the `iss`) and its state."""
    state = EhrState(upstream=upstream, client_id=client_id, patient=patient)
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
