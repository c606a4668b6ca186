"""Pytest plugin: a real FHIR R4 server (tests/fhir_server/server.mjs) for integration tests.

Load it from tests/conftest.py with ``pytest_plugins = ["tests.fhir_server_fixture"]`` (or on the
command line with ``-p tests.fhir_server_fixture``).

Fixtures:

- ``fhir_server`` (session scope): starts ``node tests/fhir_server/server.mjs 0`` once, waits for
  its ``LISTENING <port>`` line and yields a :class:`FhirServer` with ``.base_url``
  (``http://127.0.0.1:<port>``, no trailing slash) and ``.reset()`` (empties the store). The
  process is terminated at the end of the session.
- ``fhir_base_url`` (function scope): resets the server, then returns its base URL, so each test
  starts from an empty store.

The server needs its npm packages: ``npm ci --prefix tests/fhir_server``. Without them the fixture
fails (it does not skip): CI always installs them, so a missing install is a setup error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
SERVER_SCRIPT = SERVER_DIR / "server.mjs"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "run: npm ci --prefix tests/fhir_server"
_LISTENING = re.compile(rb"^LISTENING (\d+)$", re.MULTILINE)


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; registered here too so the plugin works on its own.
    config.addinivalue_line(
        "markers", "fhir_server: needs the Medplum-based FHIR test server (node)"
    )


@dataclass(frozen=True)
class FhirServer:
    """A running test FHIR server."""

    base_url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        """Delete every resource on the server (``POST /$reset``, not a FHIR operation)."""
        request = urllib.request.Request(f"{self.base_url}/$reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def _node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the FHIR test server needs Node.js (>= 20)")
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(f"the FHIR test server's npm packages are missing; {INSTALL_HINT}")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    # Medplum 5.x needs a global WebSocket at import time; Node 20 only has it behind this flag.
    flags = ["--experimental-websocket"] if major < 22 else []
    return [node, *flags, str(SERVER_SCRIPT), "0"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = _LISTENING.search(stdout.read_bytes())
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    exited = process.poll()
    _stop(process)
    state = f"exited with code {exited}" if exited is not None else "timed out"
    log = stderr.read_text(errors="replace")[-4000:]
    pytest.fail(
        f"FHIR test server {state} before printing 'LISTENING <port>' "
        f"(waited up to {START_TIMEOUT_S:.0f} s). If packages are missing, {INSTALL_HINT}.\n"
        f"--- server stderr ---\n{log}"
    )


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    """Start the test FHIR server once per session; stop it at the end."""
    command = _node_command()
    # Output goes to files, not pipes: nobody would drain a pipe, and a full pipe blocks the server.
    with tempfile.TemporaryDirectory(prefix="fhir-server-") as logs:
        stdout, stderr = Path(logs) / "stdout", Path(logs) / "stderr"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                command, cwd=SERVER_DIR, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        try:
            port = _wait_for_port(process, stdout, stderr)
            yield FhirServer(base_url=f"http://127.0.0.1:{port}", process=process)
        finally:
            _stop(process)


@pytest.fixture
def fhir_base_url(fhir_server: FhirServer) -> str:
    """The server's base URL, after emptying its store."""
    fhir_server.reset()
    return fhir_server.base_url
