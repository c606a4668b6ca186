"""Sync stage: configured connections (tenants), each pulled with its own client, auth and cursors.

`--source` names a connection, or gives a base URL (a configured connection's, whose auth is then
used, or an ad-hoc one without auth); without `--source`, every configured connection is pulled.
Cursors are keyed by the connection name (plus the Group for patient-scoped pulls), so two tenants
on one database never share a position.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from fhirbridge.errors import FhirAuthError, FhirBridgeError
from fhirbridge.mappers import MappingContext
from fhirbridge.settings import Connection, Settings
from fhirbridge.store import SqlStore
from fhirbridge.store.cursors import SqlCursors
from fhirbridge.sync import scopes
from fhirbridge.sync.auth import SmartBackendAuth
from fhirbridge.sync.bulk import BulkExport, ExportScope
from fhirbridge.sync.client import FhirClient
from fhirbridge.sync.incremental import ALL_TYPES, IncrementalPull, Scope
from fhirbridge.sync.ingest import Ingest, IngestCounts
from fhirbridge.sync.keys import SigningKey, load_signing_key, public_jwks, signing_key_from_pem

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


def resolve(connections: Sequence[Connection], source: str | None) -> list[Connection] | None:
    """The connections a `--source` value stands for; None when it is a path (or no source and
    no connection: the example data).
    """
    if source is None:
        return list(connections) or None
    for connection in connections:
        if source == connection.name:
            return [connection]
    if source.startswith(("http://", "https://")):
        base = source.split("?", 1)[0].rstrip("/")
        for connection in connections:
            if connection.base_url.rstrip("/") == base:
                return [connection]
        return [Connection(name=base, base_url=base)]
    return None


def signing_key(connection: Connection) -> SigningKey:
    """The connection's private key, from the environment (PEM) or its file.

    Raises:
        ConfigError: no key, or one that cannot be used.
    """
    where = f"connections/{connection.name}"
    if connection.private_key_pem:
        return signing_key_from_pem(
            connection.private_key_pem.encode(), alg=connection.alg, kid=connection.kid, where=where
        )
    assert connection.private_key_file is not None  # noqa: S101  (settings checked the pair)
    return load_signing_key(
        connection.private_key_file, alg=connection.alg, kid=connection.kid, where=where
    )


def configured_jwks(settings: Settings) -> dict[str, Any]:
    """The public JWKS of every smart-backend connection's key: what `fhirbridge serve` publishes
    for EHRs that fetch a client's keys by URL (jku / JWKS URL registration).

    Raises:
        ConfigError: a configured key cannot be read.
    """
    keys = [signing_key(c) for c in settings.connections if c.auth == "smart-backend"]
    return public_jwks(keys)


def open_client(
    connection: Connection,
    *,
    types: Sequence[str] = ALL_TYPES,
    sleep: Callable[[float], None] = time.sleep,
) -> FhirClient:
    """A client for the connection, with SMART Backend Services auth when configured."""
    auth = None
    if connection.auth == "smart-backend":
        assert connection.client_id is not None  # noqa: S101  (settings checked it)
        auth = SmartBackendAuth(
            base_url=connection.base_url,
            client_id=connection.client_id,
            key=signing_key(connection),
            scopes=connection.scopes or scopes.requested(types, connection.scope_style),
            token_url=connection.token_url,
            sleep=sleep,
        )
    return FhirClient(
        connection.base_url,
        auth=auth,
        timeout=(5, connection.timeout_seconds),
        max_retries=connection.max_retries,
        sleep=sleep,
    )


def pull(
    connection: Connection,
    cursors: SqlCursors,
    ingest: Ingest,
    *,
    now: Callable[[], datetime],
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Pull one connection into the store; returns its part of the run report.

    Raises:
        FhirAuthError: the token endpoint refused the client (exit 3).
        FhirError: the server failed past every retry and restart.
    """
    types: tuple[str, ...] = ALL_TYPES
    report: dict[str, Any] = {"base_url": connection.base_url, "pull": connection.pull}
    with open_client(connection, types=types, sleep=sleep) as client:
        if isinstance(client.auth, SmartBackendAuth):
            client.auth.token()  # fail early, with the token endpoint's reason, before any data
            granted = client.auth.granted_scope
            if granted is not None:
                missing = scopes.not_granted(types, granted)
                if missing:
                    raise FhirAuthError(
                        f"connection {connection.name!r}: the token grants no read access to "
                        f"{', '.join(missing)}; ask the EHR for these scopes"
                    )
                report["partial_scopes"] = scopes.partial(types, granted)
        try:
            if connection.pull == "bulk":
                report["export"] = _export(
                    connection, client, cursors, ingest, now, progress, sleep
                )
            else:
                scope = Scope(
                    source=connection.name + (f"|{connection.group}" if connection.group else ""),
                    types=types,
                    patients=connection.patients or None,
                    group=connection.group,
                    page_size=connection.page_size,
                    overlap=timedelta(seconds=connection.overlap_seconds),
                )
                puller = IncrementalPull(client, cursors, ingest, scope, now=now, progress=progress)
                report.update(puller.run())
        finally:
            report["network"] = client.stats.as_report()
            if isinstance(client.auth, SmartBackendAuth):
                report["network"]["tokens"] = client.auth.tokens_fetched
    return report


def _export(
    connection: Connection,
    client: FhirClient,
    cursors: SqlCursors,
    ingest: Ingest,
    now: Callable[[], datetime],
    progress: Progress | None,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    level = "group" if connection.group else "system"
    scope = ExportScope(
        source=connection.name + (f"|{connection.group}" if connection.group else ""),
        level=level,
        group=connection.group,
        types=ALL_TYPES,
    )
    return BulkExport(client, cursors, ingest, scope, now=now, sleep=sleep, progress=progress).run()


def _utc_now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def pull_all(
    connections: Sequence[Connection],
    store: SqlStore,
    ctx: MappingContext,
    *,
    run_id: int | None,
    now: Callable[[], datetime],
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> IngestCounts:
    """Pull each connection in turn into one set of counts (one tenant failing does not stop
    the others; the first failure is raised once all have been tried).

    Raises:
        FhirError: the first connection that failed, after the others ran.
    """
    cursors = SqlCursors(store.engine)
    total = IngestCounts()
    failures: list[FhirBridgeError] = []
    for connection in connections:
        ingest = Ingest(store, ctx, source=connection.name, run_id=run_id, now=now())
        ingest.counts = total  # one report across connections
        try:
            report = pull(connection, cursors, ingest, now=now, progress=progress, sleep=sleep)
        except FhirBridgeError as exc:
            ingest.flush()  # what was read is kept; its cursor was not moved past it
            total.connections[connection.name] = {"error": str(exc)}
            # Logged when other connections go on; a lone one's error is the command's one line.
            level = logging.WARNING if len(connections) > 1 else logging.DEBUG
            log.log(level, "connection %s failed: %s", connection.name, exc)
            failures.append(exc)
            continue
        ingest.flush()
        total.connections[connection.name] = report
        log.info(
            "connection %s: %d read in total so far", connection.name, sum(total.read.values())
        )
    if failures:
        raise failures[0]
    return total


def cancel_exports(connections: Sequence[Connection], source: str | None, store: SqlStore) -> str:
    """Cancel the saved `$export` job of each connection `source` stands for; a summary line."""
    chosen = resolve(connections, source) or []
    cursors = SqlCursors(store.engine)
    lines = []
    for connection in chosen:
        scope = ExportScope(
            source=connection.name + (f"|{connection.group}" if connection.group else ""),
            level="group" if connection.group else "system",
            group=connection.group,
        )
        with open_client(connection) as client:
            found = BulkExport(client, cursors, None, scope, now=_utc_now).cancel()
        lines.append(f"{connection.name}: {'export cancelled' if found else 'no export job'}")
    return "\n".join(lines) or "no connection"
