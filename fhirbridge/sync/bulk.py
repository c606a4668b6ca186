"""Sync stage: a FHIR Bulk Data `$export` client (system, Patient and Group level).

hl7.org/fhir/uv/bulkdata/export.html, with the behaviours cumulus-etl users asked for
(ehr-integration.md §1.5, §2): kick-off with `Prefer: respond-async`; the status URL saved
before the first poll, so a crash resumes the same job; polls that honour `Retry-After` (else
back off), bounded in count and time; NDJSON files downloaded in parallel (at most 5, as
cumulus-etl caps it, because EHRs answer 429 to more) and streamed to disk, then stored one file
at a time; each file recorded as done once its resources are committed; a redirect to another
host followed *without* the Authorization header (Oracle's files 307 to storage that must not see
the token); the manifest's `transactionTime` kept as the next `_since`; the job deleted on the
server when everything is in (DELETE also cancels a running job).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urljoin

import orjson
import requests

from fhirbridge.errors import FhirError, FhirNotFound, FhirTransientError, outcome_text
from fhirbridge.store.cursors import SqlCursors
from fhirbridge.sync.client import FhirClient
from fhirbridge.sync.http import (
    NETWORK_ERRORS,
    classify,
    parse_object,
    retry_after,
    url_path,
)
from fhirbridge.sync.ingest import Ingest
from fhirbridge.sync.items import Received, Unreadable

log = logging.getLogger(__name__)

NDJSON: Final = "application/fhir+ndjson"
EXPORT_CURSOR: Final = "$export"  # sync_cursor.resource_type holding the next `_since`
MAX_PARALLEL: Final = 5
_DEDUP_CHUNK: Final = 1000  # resources per known-version lookup
_MAX_REDIRECTS: Final = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportScope:
    source: str  # job and cursor key: the connection name (+ group)
    level: str = "system"  # system | patient | group
    group: str | None = None  # "Group/<id>" for level group
    types: tuple[str, ...] = ()  # `_type`; empty: every type the server exports
    parallel: int = 4
    max_poll_seconds: float = 6 * 3600.0  # a job still running after this is an error
    max_polls: int = 10_000


@dataclass(slots=True)
class ExportReport:
    resumed: bool = False
    since: str | None = None
    transaction_time: str | None = None
    files: int = 0
    files_skipped_done: int = 0  # committed by an earlier, interrupted run
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    polls: int = 0
    error_outcomes: int = 0  # OperationOutcomes in the manifest's error files
    errors: list[str] = field(default_factory=list)  # OperationOutcome texts from error files

    def as_report(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class BulkExport:
    """One `$export` of one scope into the store, resumable across runs."""

    def __init__(
        self,
        client: FhirClient,
        cursors: SqlCursors,
        ingest: Ingest | None,
        scope: ExportScope,
        *,
        now: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str, int], None] | None = None,
        spool: Path | None = None,
    ) -> None:
        if not 1 <= scope.parallel <= MAX_PARALLEL:
            raise ValueError(f"parallel downloads must be 1 to {MAX_PARALLEL}")
        self.client, self.cursors, self.ingest, self.scope = client, cursors, ingest, scope
        self.now, self.sleep, self.progress, self.spool = now, sleep, progress, spool
        self.report = ExportReport()
        self._seen: set[tuple[str, str, str]] = set()

    # ---- the job ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Kick off (or resume) the export, wait for it, store every file; returns the report.

        Raises:
            FhirError: the server refused the export, the job failed or expired, or it was still
                running after `max_poll_seconds` (the job is kept: the next run resumes it).
        """
        job = self.cursors.export_job(self.scope.source)
        if job is None:
            status_url = self._kick_off()
            manifest_bytes: bytes | None = None
            done: set[str] = set()
        else:
            self.report.resumed = True
            self.report.since = job.since
            status_url = job.status_url
            manifest_bytes = job.manifest.encode() if job.manifest else None
            done = set(orjson.loads(job.files_done or "[]"))
            log.info("resuming the export job of %s (%d files done)", self.scope.source, len(done))
        if manifest_bytes is None:
            manifest_bytes = self._poll(status_url)
            self.cursors.export_manifest(self.scope.source, manifest_bytes, self.now())
        manifest = orjson.loads(manifest_bytes)
        self._download_all(manifest, done)
        transaction_time = str(manifest.get("transactionTime") or "")
        self.report.transaction_time = transaction_time or None
        if transaction_time:
            self.cursors.put(self.scope.source, EXPORT_CURSOR, transaction_time, self.now())
        self._delete(status_url)  # the server may free the files now (Oracle asks for it)
        self.cursors.export_finished(self.scope.source)
        return self.report.as_report()

    def cancel(self) -> bool:
        """DELETE the saved job on the server and forget it; False when there is none."""
        job = self.cursors.export_job(self.scope.source)
        if job is None:
            return False
        self._delete(job.status_url)
        self.cursors.export_finished(self.scope.source)
        return True

    def _kick_off(self) -> str:
        since = self.cursors.get(self.scope.source, EXPORT_CURSOR)
        self.report.since = since
        params: dict[str, str] = {"_outputFormat": NDJSON}
        if self.scope.types:
            params["_type"] = ",".join(self.scope.types)
        if since:
            params["_since"] = since
        path = {
            "system": "$export",
            "patient": "Patient/$export",
            "group": f"{self.scope.group}/$export",
        }[self.scope.level]
        response = self.client.send(
            "GET",
            path,
            params=params,
            headers={"Prefer": "respond-async", "Accept": "application/fhir+json"},
        )
        location = response.headers.get("Content-Location")
        if response.status_code != 202 or not location:
            raise FhirError(
                f"GET {path} → {response.status_code}: not an async kick-off (no 202 with "
                "Content-Location)",
                url=url_path(response.url),
                status=response.status_code,
            )
        status_url = urljoin(response.url, location)
        # Saved before the first poll: a crash from here on resumes this job, not a new one.
        self.cursors.export_started(self.scope.source, status_url, since, self.now())
        log.info("export kicked off for %s", self.scope.source)
        return status_url

    def _poll(self, status_url: str) -> bytes:
        started = time.monotonic()
        delay = 1.0
        for poll in range(1, self.scope.max_polls + 1):
            self.report.polls = poll
            try:
                response = self.client.send(
                    "GET", status_url, headers={"Accept": "application/json"}
                )
            except FhirNotFound:
                self.cursors.export_finished(self.scope.source)
                raise FhirError(
                    "the export job is gone (expired or deleted on the server); the next run "
                    "starts a new one",
                    url=url_path(status_url),
                ) from None
            if response.status_code == 200:
                if parse_object(response.content) is not None:
                    return response.content
                # A manifest cut short, or a gateway's HTML page: ask again (the job is done
                # on the server; polling is idempotent).
                log.info("export manifest is not JSON; polling again")
                self.sleep(min(delay, 60.0))
                delay = min(delay * 2, 60.0)
                continue
            if response.status_code != 202:
                raise FhirError(f"export status → {response.status_code}", url=url_path(status_url))
            progress = response.headers.get("X-Progress", "")
            log.info("export running%s", f": {progress[:100]}" if progress else "")
            asked = retry_after(response)
            # Honour the server's pace; without one, back off 1, 2, 4 ... 60 s (polling too fast
            # earns a 429: fhir-bulk-data-docs #30).
            wait_s = asked if asked is not None else delay
            delay = min(delay * 2, 60.0)
            if time.monotonic() - started + wait_s > self.scope.max_poll_seconds:
                break
            self.sleep(wait_s)
        raise FhirError(
            f"export still running after {self.report.polls} polls; the job is kept and the next "
            "run resumes it",
            url=url_path(status_url),
        )

    def _delete(self, status_url: str) -> None:
        try:
            self.client.send("DELETE", status_url)
        except FhirError as exc:  # cleanup only: the files expire on their own
            log.info("DELETE of the export job: %s", exc)

    # ---- files --------------------------------------------------------------------------
    def _download_all(self, manifest: dict[str, Any], done: set[str]) -> None:
        outputs = [o for o in manifest.get("output") or () if isinstance(o, dict) and o.get("url")]
        errors = [o for o in manifest.get("error") or () if isinstance(o, dict) and o.get("url")]
        token = bool(manifest.get("requiresAccessToken", True))
        todo = [str(o["url"]) for o in outputs if str(o["url"]) not in done]
        self.report.files = len(outputs)
        self.report.files_skipped_done = len(outputs) - len(todo)
        with tempfile.TemporaryDirectory(dir=self.spool, prefix="fhirbridge-export-") as tmp:
            with ThreadPoolExecutor(max_workers=self.scope.parallel) as pool:
                pending: dict[Future[Path], str] = {}
                queue = list(enumerate(todo))
                while queue or pending:
                    while queue and len(pending) < self.scope.parallel:
                        index, url = queue.pop(0)
                        target = Path(tmp) / f"{index}.ndjson"
                        pending[pool.submit(self._download, url, target, token)] = url
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        url = pending.pop(future)
                        try:
                            path = future.result()
                        except BaseException:
                            for other in pending:
                                other.cancel()
                            raise
                        # Stored here, in this thread: one writer for the database.
                        self._store_file(path, url)
                        path.unlink()
                        self.cursors.export_file_done(self.scope.source, url, self.now())
            for error in errors:
                target = Path(tmp) / "error.ndjson"
                self._download(str(error["url"]), target, token)
                self._read_errors(target)

    def _download(self, url: str, target: Path, token: bool) -> Path:
        """Stream one file to disk, retrying transient failures from the start of the file.

        Redirects are followed by hand: to the server's own origin with auth, anywhere else
        without it (requests would keep a custom auth on a redirect; storage behind a 307 must
        never see the bearer token).
        """
        attempt = 0
        while True:
            try:
                self._fetch_to(url, target, token)
                return target
            except FhirTransientError as exc:
                attempt += 1
                if attempt > 5:
                    raise
                pause = exc.retry_after if exc.retry_after is not None else 0.5 * 2.0**attempt
                log.info("download %s: %s; retrying in %.1f s", url_path(url), exc, pause)
                self.sleep(min(pause, 60.0))

    def _fetch_to(self, url: str, target: Path, token: bool) -> None:
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            auth = self.client.auth if token and self.client.same_origin(current) else None
            try:
                response = self.client.session.get(
                    current,
                    headers={"Accept": NDJSON},
                    auth=auth,
                    stream=True,
                    allow_redirects=False,
                    timeout=(5, 60),
                )
            except NETWORK_ERRORS as exc:
                raise FhirTransientError(
                    f"download {url_path(current)}: {type(exc).__name__}", url=url_path(current)
                ) from None
            with response:
                if response.is_redirect:
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status_code >= 400:
                    if response.status_code in (404, 410):
                        self.cursors.export_finished(self.scope.source)
                        raise FhirError(
                            "export file expired or gone; the next run starts a new export from "
                            "the same _since",
                            url=url_path(current),
                            status=response.status_code,
                        )
                    _ = response.content  # read the body: it may carry an OperationOutcome
                    # Transient statuses become FhirTransientError and are retried by _download.
                    raise classify("GET", url_path(current), current, response)
                try:
                    with target.open("wb") as handle:
                        _copy(response, handle)
                except NETWORK_ERRORS as exc:
                    raise FhirTransientError(
                        f"download {url_path(current)} cut short ({type(exc).__name__})",
                        url=url_path(current),
                    ) from None
                return
        raise FhirError("too many redirects", url=url_path(url))

    def _store_file(self, path: Path, url: str) -> None:
        assert self.ingest is not None  # noqa: S101  (only cancel() runs without one)
        where = url_path(url)
        batch: list[Received] = []
        for item in _read_ndjson(path, where):
            if isinstance(item, Unreadable):
                self.ingest.add(item)
                continue
            batch.append(item)
            if len(batch) >= _DEDUP_CHUNK:
                self._store_batch(batch)
                batch = []
        self._store_batch(batch)
        self.ingest.flush()  # committed before the file is recorded as done

    def _store_batch(self, batch: list[Received]) -> None:
        assert self.ingest is not None  # noqa: S101  (only cancel() runs without one)
        by_type: dict[str, list[Received]] = {}
        for item in batch:
            by_type.setdefault(str(item.resource.get("resourceType")), []).append(item)
        for rtype, items in by_type.items():
            known = self.cursors.known_versions(rtype, [str(i.resource.get("id")) for i in items])
            for item in items:
                self.report.read += 1
                meta = item.resource.get("meta") or {}
                rid = str(item.resource.get("id"))
                version = str(meta.get("versionId") or f"@{meta.get('lastUpdated')}")
                stored = known.get(rid)
                duplicate = stored is not None and (
                    stored[0] == meta.get("versionId")
                    if stored[0] and meta.get("versionId")
                    else stored[1] is not None and stored[1] == meta.get("lastUpdated")
                )
                if duplicate or (rtype, rid, version) in self._seen:
                    self.report.duplicates += 1
                    self.ingest.duplicate(rtype)
                    continue
                self._seen.add((rtype, rid, version))
                self.ingest.add(item)
                self.report.stored += 1
        if self.progress is not None:
            self.progress("export", self.report.read)

    def _read_errors(self, path: Path) -> None:
        for item in _read_ndjson(path, "error"):
            if isinstance(item, Received):
                self.report.error_outcomes += 1
                text = outcome_text(item.resource)
                if text and len(self.report.errors) < 20:
                    self.report.errors.append(text[:300])


def _copy(response: requests.Response, handle: IO[bytes]) -> None:
    for chunk in response.iter_content(chunk_size=1 << 16):
        handle.write(chunk)


def _read_ndjson(path: Path, where: str) -> Iterator[Received | Unreadable]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            location = f"{where}:{number}"
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield Unreadable(raw=line, location=location, reason="not valid JSON")
                continue
            if isinstance(resource, dict):
                yield Received(resource=resource, raw=line, location=location)
            else:
                yield Unreadable(raw=line, location=location, reason="not a JSON object")
