"""Test-side: a threaded HTTP proxy on 127.0.0.1 in front of the real FHIR test server.

It injects, at random with a seed, every failure ISSUE 6 point 4 lists: 429 with `Retry-After` in
seconds and as an HTTP-date, 500/502/503/504, a reply slower than the client's read timeout, a
connection reset, a page cut short (short of its Content-Length, or complete but not JSON), a
page that is not JSON at all, a `next` link to another host, and an expired search cursor (410,
or an OperationOutcome where the next page should be).

With `smart=True` it is also the EHR's authorization server: `/.well-known/smart-configuration`
and `/token` (SMART Backend Services: the client assertion's signature is checked against the
registered JWKS and its claims one by one), and every proxied request needs a bearer token it
issued and that has not expired.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import orjson

FAULTS = (
    "429-seconds",
    "429-date",
    "500",
    "502",
    "503",
    "504",
    "slow",
    "reset",
    "cut-short",
    "truncated-json",
    "not-json",
    "foreign-next",
    "expired-410",
    "expired-outcome",
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


@dataclass
class Client:
    """A client registered with the authorization server."""

    client_id: str
    jwks: dict[str, Any]
    scope: str = "system/*.rs"


@dataclass
class ProxyState:
    upstream: str  # http://127.0.0.1:<port>
    seed: int = 0
    rate: float = 0.0  # share of eligible requests that get a fault
    faults: tuple[str, ...] = FAULTS
    slow_seconds: float = 1.5  # longer than the client's read timeout in the tests
    latency: float = 0.0  # seconds added to every proxied request (a distant server)
    smart: bool = False
    token_lifetime: int = 300
    clients: dict[str, Client] = field(default_factory=dict)
    # observations, for assertions
    injected: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    assertions: list[dict[str, Any]] = field(default_factory=list)  # verified header + claims
    token_errors: list[str] = field(default_factory=list)
    rejected_tokens: int = 0
    before: Callable[[str, str], None] | None = None  # called with (method, path) first
    lock: threading.Lock = field(default_factory=threading.Lock)
    bag: list[str] = field(default_factory=list)
    _rng: random.Random | None = None
    _tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (monotonic)
    _jtis: set[str] = field(default_factory=set)

    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def expire_tokens(self) -> None:
        """Make every issued token invalid now (the next request gets a 401)."""
        with self.lock:
            self._tokens.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ---- dispatch -----------------------------------------------------------------------
    def _handle(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        with state.lock:
            state.requests.append((self.command, path))
        if state.before is not None:
            state.before(self.command, path)
        if state.smart and path.split("?")[0] == "/.well-known/smart-configuration":
            return self._json(200, self._smart_configuration())
        if state.smart and path.split("?")[0] == "/token":
            return self._token(body)
        if state.smart and not self._authorized():
            with state.lock:
                state.rejected_tokens += 1
            return self._json(401, _outcome("login", "bearer token missing, unknown or expired"))
        fault = self._fault(path)
        if fault is not None:
            with state.lock:
                state.injected[fault] += 1
            if self._inject_before(fault):
                return
        if state.latency:
            time.sleep(state.latency)
        status, headers, content = self._forward(body)
        if fault is not None:
            self._inject_after(fault, status, headers, content)
            return
        self._send(status, headers, content)

    def _fault(self, path: str) -> str | None:
        state = self.server.state
        if state.rate <= 0 or path.startswith("/$reset") or path.startswith("/$seed"):
            return None
        with state.lock:
            rng = state.rng()
            if rng.random() >= state.rate:
                return None
            # Drawn from a shuffled bag (refilled when empty), so that every kind comes up in a
            # run of moderate length, in a random order fixed by the seed.
            if not state.bag:
                state.bag = list(state.faults)
                rng.shuffle(state.bag)
            for fault in state.bag:
                if _applies(fault, self.command, path):
                    state.bag.remove(fault)
                    return fault
            return None

    # ---- faults -------------------------------------------------------------------------
    def _inject_before(self, fault: str) -> bool:
        """Faults that replace the server's answer; True when the reply is sent."""
        if fault == "429-seconds":
            self._json(429, _outcome("throttled", "slow down"), {"Retry-After": "1"})
        elif fault == "429-date":
            when = email.utils.formatdate(time.time() + 1.5, usegmt=True)
            self._json(429, _outcome("throttled", "slow down"), {"Retry-After": when})
        elif fault in ("500", "502", "503", "504"):
            if fault == "502":  # gateways answer in HTML
                self._raw(502, b"<html><body>Bad Gateway</body></html>", "text/html")
            else:
                self._json(int(fault), _outcome("transient", f"injected {fault}"))
        elif fault == "slow":
            time.sleep(self.server.state.slow_seconds)
            return False  # then answer normally: the client gave up already
        elif fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif fault == "not-json":
            self._raw(200, b"<html>Service temporarily unavailable</html>", "text/html")
        elif fault == "expired-410":
            self._json(410, _outcome("not-found", "Search id has expired"))
        elif fault == "expired-outcome":
            self._json(200, _outcome("not-found", "Search results are no longer available"))
        else:
            return False
        return True

    def _inject_after(
        self, fault: str, status: int, headers: dict[str, str], content: bytes
    ) -> None:
        if fault == "cut-short" and len(content) > 20:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "truncated-json" and len(content) > 20:
            return self._send(status, headers, content[: len(content) // 2])
        if fault == "foreign-next":
            bundle = orjson.loads(content) if content else {}
            for link in bundle.get("link") or ():
                if link.get("relation") == "next":
                    parts = urlsplit(link["url"])
                    link["url"] = f"http://fhir.elsewhere.example{parts.path}?{parts.query}"
            return self._send(status, headers, orjson.dumps(bundle))
        self._send(status, headers, content)

    # ---- plumbing -----------------------------------------------------------------------
    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = urlsplit(self.server.state.upstream)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Host"] = self.headers.get("Host") or ""  # links point back at the proxy
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            content = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP}
            return response.status, kept, content
        finally:
            conn.close()

    def _send(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(
            status, {"Content-Type": "application/fhir+json", **(headers or {})}, orjson.dumps(body)
        )

    def _raw(self, status: int, content: bytes, content_type: str) -> None:
        self._send(status, {"Content-Type": content_type}, content)

    # ---- the authorization server -------------------------------------------------------
    def _base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def _smart_configuration(self) -> dict[str, Any]:
        return {
            "token_endpoint": f"{self._base()}/token",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["system/*.rs", "system/*.read"],
            "capabilities": ["client-confidential-asymmetric"],
        }

    def _token(self, body: bytes) -> None:
        state = self.server.state
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        try:
            claims, header = self._verify(form)
        except ValueError as exc:
            with state.lock:
                state.token_errors.append(str(exc))
            self._send(
                401,
                {"Content-Type": "application/json"},
                orjson.dumps({"error": "invalid_client", "error_description": str(exc)}),
            )
            return
        token = uuid.uuid4().hex
        with state.lock:
            state._tokens[token] = time.monotonic() + state.token_lifetime
            state.assertions.append({"header": header, "claims": claims, "scope": form["scope"]})
            scope = state.clients[claims["iss"]].scope
        self._send(
            200,
            {"Content-Type": "application/json", "Cache-Control": "no-store"},
            orjson.dumps(
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": state.token_lifetime,
                    "scope": scope,
                }
            ),
        )

    def _verify(self, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check the request and assertion as a SMART authorization server must."""
        state = self.server.state
        if form.get("grant_type") != "client_credentials":
            raise ValueError("grant_type must be client_credentials")
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            raise ValueError("wrong client_assertion_type")
        assertion = form.get("client_assertion", "")
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        client = state.clients.get(str(unverified.get("iss")))
        if client is None:
            raise ValueError("unknown client")
        if header.get("alg") not in ("RS384", "ES384"):
            raise ValueError(f"alg {header.get('alg')} not allowed")
        keys = [k for k in client.jwks["keys"] if k.get("kid") == header.get("kid")]
        if not keys:
            raise ValueError("no registered key with this kid")
        key = jwt.PyJWK(keys[0], algorithm=header["alg"])
        try:
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=[header["alg"]],
                audience=f"{self._base()}/token",
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise ValueError(f"assertion rejected: {type(exc).__name__}: {exc}") from None
        if claims["sub"] != claims["iss"]:
            raise ValueError("sub must equal iss")
        if claims["exp"] > time.time() + 300:
            raise ValueError("exp more than five minutes ahead")
        with state.lock:
            if claims["jti"] in state._jtis:
                raise ValueError("jti replayed")
            state._jtis.add(claims["jti"])
        return claims, header

    def _authorized(self) -> bool:
        value = self.headers.get("Authorization") or ""
        if not value.startswith("Bearer "):
            return False
        state = self.server.state
        with state.lock:
            expiry = state._tokens.get(value[len("Bearer ") :])
        return expiry is not None and expiry > time.monotonic()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ProxyState

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that gave up (timeout, reset) closed its socket: expected here


def _applies(fault: str, method: str, path: str) -> bool:
    query = parse_qs(urlsplit(path).query)
    is_search = method == "GET" and "_count" in query
    is_next_page = is_search and int(query.get("_offset", ["0"])[0]) > 0
    if fault == "foreign-next":
        return is_search
    if fault in ("expired-410", "expired-outcome"):
        return is_next_page
    if fault in ("not-json", "truncated-json", "cut-short"):
        return method == "GET"
    return True


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "details": {"text": text}}],
    }


@dataclass
class FaultProxy:
    url: str
    state: ProxyState


@contextmanager
def fault_proxy(upstream: str, **options: Any) -> Iterator[FaultProxy]:
    """Run a proxy in front of `upstream` for the duration of the block."""
    state = ProxyState(upstream=upstream, **options)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield FaultProxy(url=f"http://127.0.0.1:{server.server_address[1]}", state=state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
