"""Browser tests: the app served on 127.0.0.1 by a werkzeug thread, and Debian's headless
Chromium driven by Playwright (never a downloaded browser: `playwright install` is not run).

Skipped, with the reason, only where /usr/bin/chromium is absent (`apt-get install chromium`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from fhirbridge.api import create_app
from fhirbridge.bootstrap import build_services
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.settings import Settings, SmartAppSetting

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that phones home: the page must load only from 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextmanager
def serve_app(tmp_path: Path, smart: SmartAppSetting | None = None) -> Iterator[str]:
    """The API on a free 127.0.0.1 port, evaluating as of the examples' reference date."""
    services = build_services(
        Settings(smart_app=smart or SmartAppSetting()),
        database_url=f"sqlite:///{tmp_path / 'browser.db'}",
    )
    app = create_app(services=services, today=lambda: REFERENCE_DATE)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
