"""Test-side helpers for the write-back tests: the `fhirbridge` CLI as a real subprocess, and a
proxy in front of the real FHIR test server that can make it slow, racy or failing.

Why a proxy: the test server runs requests one at a time, so its conditional create is atomic,
which the servers fhirbridge meets in production are not (HAPI #3141, #4597; microsoft/fhir-server
#1382; Medplum #4234: ehr-integration.md). `RacyProxy(conditional_create="racy")` answers an
`If-None-Exist` POST the way those servers behave under load: search, a pause, then a plain create,
so two concurrent conditional creates of one identifier both create. Only fhirbridge's own
ledger lock can then keep one resource per identifier. The proxy also injects faults (a 503 for
chosen requests) for the outbox tests; every resource still lives in the real server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from fhirbridge.cli import main
from fhirbridge.examples.builders import Chart
from fhirbridge.examples.catalog import DRUGS
from tests.fhir_loading import search_all

FHIR_JSON = "application/fhir+json"
Fault = Callable[[str, str, dict[str, Any] | None], bool]  # (method, path, body) → fail it?


@dataclass
class RacyProxy:
    """A proxy to `upstream`; `log` keeps (method, path, status) of every request it answered."""

    upstream: str
    delay: float = 0.0  # seconds added to every write
    conditional_create: str = "atomic"  # or "racy": search, pause, plain create
    race_window: float = 0.05
    fail: Fault | None = None  # requests answered 503 (Retry-After: 0) instead of forwarded
    log: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    base_url: str = ""

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        status, reply_headers, reply = self._handle(method, path, headers, raw)
        self.log.append((method, path, status))
        return status, reply_headers, reply

    def _handle(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        body = orjson.loads(raw) if raw else None
        if self.fail is not None and self.fail(method, path, body):
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {"severity": "error", "code": "transient", "diagnostics": "injected 503"}
                ],
            }
            return 503, {"Retry-After": "0"}, orjson.dumps(outcome)
        if method in ("POST", "PUT") and self.delay:
            time.sleep(self.delay)
        forward = {
            k: v
            for k, v in headers.items()
            if k.lower() in ("content-type", "accept", "if-match", "if-none-exist", "prefer")
        }
        forward["Host"] = urlsplit(self.base_url).netloc  # the server builds URLs on our origin
        condition = (
            forward.pop("If-None-Exist", None) if self.conditional_create == "racy" else None
        )
        if method == "POST" and condition is not None:
            return self._racy_create(path, condition, forward, raw)
        return self._forward(method, path, forward, raw)

    def _racy_create(
        self, path: str, condition: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        status, _, found = self._forward("GET", f"{path}?{condition}", headers, b"")
        matches = orjson.loads(found).get("entry", []) if status == 200 else []
        if len(matches) > 1:
            return (
                412,
                {},
                orjson.dumps(_outcome("duplicate", "multiple matches")),
            )
        if matches:
            return 200, {}, orjson.dumps(matches[0]["resource"])
        time.sleep(self.race_window)  # the window in which a second request sees nothing too
        return self._forward("POST", path, headers, raw)

    def _forward(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        response = requests.request(
            method, f"{self.upstream}{path}", headers=dict(headers), data=raw or None, timeout=60
        )
        keep = {
            k: v for k, v in response.headers.items() if k in ("ETag", "Location", "Last-Modified")
        }
        return response.status_code, keep, response.content


def _outcome(code: str, text: str) -> dict[str, Any]:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


@contextmanager
def running(proxy: RacyProxy) -> Iterator[RacyProxy]:
    """Serve `proxy` on a free 127.0.0.1 port for the block."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, headers, body = proxy.handle(self.command, self.path, dict(self.headers), raw)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", FHIR_JSON)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="racy-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def fhirbridge_command() -> list[str]:
    """The installed console script, or this interpreter running the CLI module."""
    script = shutil.which("fhirbridge", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    return [sys.executable, "-c", "from fhirbridge.cli import console; console()"]


def spawn(
    args: list[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `fhirbridge <args>` as a separate process (its output to files in `cwd`)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FHIRBRIDGE_")}
    environ.update(env or {})
    tag = f"{time.monotonic_ns()}"
    with (cwd / f"stdout-{tag}").open("wb") as out, (cwd / f"stderr-{tag}").open("wb") as err:
        return subprocess.Popen(
            [*fhirbridge_command(), *args], cwd=cwd, env=environ, stdout=out, stderr=err
        )


def stderr_of(cwd: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(cwd.glob("stderr-*")))


def report(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((out / "run-report.json").read_bytes())
    return data


def get(base_url: str, path: str) -> dict[str, Any]:
    response = requests.get(f"{base_url}/{path}", headers={"Accept": FHIR_JSON}, timeout=60)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def put_all(base_url: str, resources: list[dict[str, Any]]) -> None:
    """PUT resources with their own ids, as one batch; every entry must be accepted."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources
    ]
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    response = requests.post(
        base_url, data=orjson.dumps(bundle), headers={"Content-Type": FHIR_JSON}, timeout=60
    )
    response.raise_for_status()
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert all(s.startswith("2") for s in statuses), statuses


def history_length(base_url: str, rtype: str, rid: str) -> int:
    return len(get(base_url, f"{rtype}/{rid}/_history").get("entry", []))


# ---- constructed patients for the write-back tests -------------------------------------------
# chart(n): patient ex-pt-<n> takes buprenorphine/naloxone on one order (ex-mr-<n>-1), 30-day
# fills on days -179, -119, -59 and -29 before 2026-06-30 (examples.REFERENCE_DATE): PDC as of
# that day = 120 covered / 180 days = 0.6667 < 0.80, one pdc-below-threshold finding.
AS_OF = "2026-06-30"
CONFIG = '[analysis]\nenabled_rules = ["pdc-below-threshold"]\n'
WRITTEN = ("DetectedIssue", "Flag", "CarePlan", "DocumentReference", "Communication")


def chart(number: int) -> Chart:
    c = Chart(number, "Sam", f"Patient{number}", "male", "1979-05-02")
    order = c.order(DRUGS["bupnal"], "add-a", -179, supply=30, refills=5)
    for offset in (-179, -119, -59, -29):
        c.dispense(order, DRUGS["bupnal"], offset, "pharm-a", 30)
    return c


def write_folder(folder: Path, charts: list[Chart], *, bad: int | None = None) -> None:
    folder.mkdir()
    lines: dict[str, list[bytes]] = {}
    for c in charts:
        for rtype, resources in c.resources.items():
            for resource in resources:
                if c.number == bad:
                    resource = _with_stray_tab(resource, c.number)
                lines.setdefault(rtype, []).append(orjson.dumps(resource))
    for rtype, rows in lines.items():
        (folder / f"{rtype}.ndjson").write_bytes(b"\n".join(rows) + b"\n")


def _with_stray_tab(resource: dict[str, Any], number: int) -> dict[str, Any]:
    """The order id with a vertical tab at its end, wherever it appears (an export artefact)."""
    text = orjson.dumps(resource).decode()
    order = f'ex-mr-{number}-1"'
    return dict(orjson.loads(text.replace(order, order[:-1] + '\\u000b"')))


def prepare(
    tmp: Path, charts: list[Chart], bad: int | None = None, config: str = CONFIG
) -> list[str]:
    """Sync and analyze the constructed charts; the common writeback options."""
    write_folder(tmp / "data", charts, bad=bad)
    (tmp / "fb.toml").write_text(config)
    common = [
        "--as-of",
        AS_OF,
        "--db",
        f"sqlite:///{tmp / 'fb.db'}",
        "--config",
        str(tmp / "fb.toml"),
    ]
    assert main(["sync", "--source", str(tmp / "data"), *common]) == 0
    assert main(["analyze", "--out", str(tmp / "analysis"), *common]) == 0
    return common


def writeback(url: str, common: list[str], out: Path, target: str = "fhir-full") -> dict[str, Any]:
    assert main(["writeback", "--source", url, "--target", target, "--out", str(out), *common]) == 0
    return report(out)


def on_server(url: str) -> dict[str, list[str]]:
    """Resource type → the patients its fhirbridge resources are about, sorted."""
    found: dict[str, list[str]] = {}
    for rtype in WRITTEN:
        for r in search_all(url, f"{rtype}?_tag=urn:fhirbridge:tag|fhirbridge&_count=200"):
            subject = r.get("patient") or r.get("subject")
            found.setdefault(rtype, []).append(subject["reference"])
    return {t: sorted(v) for t, v in found.items()}
