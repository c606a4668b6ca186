"""Entrypoint: run the API under gunicorn (`fhirbridge serve`), the production WSGI server.

Threaded workers: threads share a process's loaded terminology, and two processes use both
cores of a small host. Four threads, not more: a CDS call is CPU-bound Python, so more threads
only queue on the GIL and stretch the tail (bench/cds_hooks.py, 20 clients: p95 53 ms with 8
threads, 35-46 ms with 4).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def serve(app: Flask, *, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    """Serve until interrupted. Access logs are off: URLs can carry patient ids."""
    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "timeout": 60,
        },
    ).run()
