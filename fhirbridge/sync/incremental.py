"""Sync stage: incremental pulls by `_lastUpdated`, with cursors that never run ahead of the data.

Per connection and resource type, a search `_lastUpdated=ge<cursor − overlap>` sorted by
`_lastUpdated`, paged over next links. The guarantees, and why:

- **Nothing lost.** A cursor is written only after the resources it covers are committed, so a
  crash at any point leaves it behind the data. Each pull re-reads an overlap window (default 5
  minutes) behind the cursor, because transactions that commit late, or clocks that differ inside
  a cluster, put resources "behind" a cursor (LinuxForHealth/FHIR PR #2030; ARCHITECTURE.md).
  The cursor is also capped at the server's `Date` when the search began.
- **Nothing stored twice.** Resources are de-duplicated by id and versionId (lastUpdated when a
  server sends no versionId) against the store and within the run; the store keeps one row per
  (type, id) with the newest version.
- **Pages that shift.** Offset-based paging skips a resource when another one changes while the
  client pages (LinuxForHealth/FHIR #3590). A changed `Bundle.total`, or the same id twice in
  one search, means the pages shifted: the search runs again from the last safe point.
- **Paging state that expires** (HAPI #7220: 410, or an OperationOutcome instead of a Bundle) and
  a next link to another host (refused, never requested): the search restarts from the cursor.
  Restarts are bounded; past the bound the error is final and names what happened.

Patient-scoped pulls (a list of patients, or a Group's members) run the same searches with
`patient=<id>`, one cursor per type for the whole pass, written once every patient is done.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from fhirbridge.errors import FhirError, FhirRejected
from fhirbridge.mappers import relative_reference
from fhirbridge.store.cursors import SqlCursors
from fhirbridge.sync.client import FhirClient, Page
from fhirbridge.sync.http import ForeignNextLink, SearchExpired
from fhirbridge.sync.ingest import Ingest
from fhirbridge.sync.items import Received

log = logging.getLogger(__name__)

# Directory types first (prescriber roles), then clinical ones; Medication last, because only the
# ones orders reference are fetched in patient scope. The same set `rest.pull` reads.
DIRECTORY_TYPES: Final = ("Practitioner", "PractitionerRole")
PATIENT_TYPES: Final = (
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "Observation",
    "Condition",
    "Encounter",
)
ALL_TYPES: Final = ("Patient", *DIRECTORY_TYPES, *PATIENT_TYPES, "Medication")
MAX_RESTARTS: Final = 5  # per type and pass: expired cursors, foreign next links, shifted pages
_ID_CHUNK: Final = 50  # ids per `_id=a,b,c` search: keeps URLs well under common 8 KB limits

Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What one pull covers: every resource of each type, or a set of patients'."""

    source: str  # the cursor key: connection name (+ group), or a base URL without a query
    types: tuple[str, ...] = ALL_TYPES
    patients: tuple[str, ...] | None = None  # patient ids; None = system-scoped searches
    group: str | None = None  # "Group/<id>": the patients are its members
    page_size: int = 200
    overlap: timedelta = timedelta(minutes=5)


@dataclass(slots=True)
class TypeReport:
    read: int = 0
    stored: int = 0  # handed to the store (new ids or new versions)
    duplicates: int = 0  # same id and version as stored, or seen earlier in this run
    restarts: Counter[str] = field(default_factory=Counter)  # by reason
    cursor: str | None = None

    def as_report(self) -> dict[str, Any]:
        report: dict[str, Any] = {"read": self.read, "stored": self.stored}
        report["duplicates"] = self.duplicates
        if self.restarts:
            report["restarts"] = dict(sorted(self.restarts.items()))
        report["cursor"] = self.cursor
        return report


class IncrementalPull:
    """One pull of one scope from one server into the store, through an `Ingest`."""

    def __init__(
        self,
        client: FhirClient,
        cursors: SqlCursors,
        ingest: Ingest,
        scope: Scope,
        *,
        now: Callable[[], datetime],
        progress: Progress | None = None,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.client, self.cursors, self.ingest, self.scope = client, cursors, ingest, scope
        self.now = now
        self.progress = progress
        self.max_restarts = max_restarts
        self.types: dict[str, TypeReport] = {}
        self.refused: dict[str, str] = {}  # type → why the server refused it (patient scope)
        self._seen: set[tuple[str, str, str]] = set()  # (type, id, version) handed over this run
        self._read = 0

    def run(self) -> dict[str, Any]:
        """Pull every type of the scope; returns the report part for this scope."""
        patients = self._patients()
        medications: set[str] = set()
        for rtype in self.scope.types:
            if patients is None:
                self._pass(rtype, [None], medications)
            elif rtype in DIRECTORY_TYPES:
                self._pass(rtype, [None], medications, optional=True)
            elif rtype == "Patient":
                self._by_ids("Patient", patients)
            elif rtype == "Medication":
                self._by_ids("Medication", sorted(medications))
            else:
                self._pass(rtype, patients, medications)
        return {
            "types": {t: r.as_report() for t, r in self.types.items()},
            **({"refused": dict(sorted(self.refused.items()))} if self.refused else {}),
        }

    # ---- one pass over a type -----------------------------------------------------------
    def _pass(
        self,
        rtype: str,
        patients: Sequence[str | None],
        medications: set[str],
        *,
        optional: bool = False,
    ) -> None:
        """Every patient's (or the system's) resources of one type, then the cursor.

        A system-scoped search (`patients == [None]`) commits its cursor page by page; a
        patient-scoped pass commits once, when every patient's search has ended.
        """
        report = self.types.setdefault(rtype, TypeReport())
        cursor = _parse(self.cursors.get(self.scope.source, rtype))
        system = list(patients) == [None]
        pass_start: datetime | None = None
        newest: datetime | None = None
        complete = True
        for patient in patients:
            try:
                started, top, done = self._search(rtype, patient, cursor, report, medications)
            except FhirRejected as exc:
                if not optional or exc.status in (401, 403):
                    raise
                # Epic-style servers refuse searches without a patient: directory data is
                # context (prescriber roles), so the pull goes on without it, and says so.
                self.refused[rtype] = str(exc)
                log.warning("%s: skipped, the server refused the search (%s)", rtype, exc.status)
                return
            pass_start = _min(pass_start, started)
            newest = _max(newest, top)
            complete = complete and done
        if not system and complete:
            self._commit_cursor(rtype, newest, pass_start, report)

    def _search(
        self,
        rtype: str,
        patient: str | None,
        cursor: datetime | None,
        report: TypeReport,
        medications: set[str],
    ) -> tuple[datetime | None, datetime | None, bool]:
        """One search, restarted from its safe point when paging breaks.

        Returns:
            The server date of its first page, the newest lastUpdated read, and whether the
            search ended cleanly (False: pages kept shifting; the cursor must not move).

        Raises:
            FhirError: the search expired or led off-origin more than `max_restarts` times.
        """
        system = patient is None
        restarts = 0
        start: datetime | None = None
        newest: datetime | None = None
        lower = cursor
        while True:
            error: FhirError | None = None
            try:
                for page_start, page_newest in self._pages(
                    rtype, patient, lower, report, medications
                ):
                    start = start or page_start
                    newest = _max(newest, page_newest)
                    if system and page_newest is not None:
                        self._commit_cursor(rtype, newest, start, report)
                return start, newest, True
            except _Restart as restart:
                reason, safe = restart.reason, restart.safe
            except (SearchExpired, ForeignNextLink) as exc:
                reason, safe, error = type(exc).__name__, None, exc
            restarts += 1
            report.restarts[reason] += 1
            if restarts > self.max_restarts:
                if error is not None:
                    raise FhirError(
                        f"{rtype}: search failed {restarts} times in a row ({error}); the "
                        "cursor is kept and the next run resumes from it",
                        url=error.url,
                        status=error.status,
                    ) from None
                log.warning("%s: pages kept shifting; the next run re-reads from the cursor", rtype)
                return start, newest, False
            committed = _parse(self.cursors.get(self.scope.source, rtype)) if system else cursor
            lower = _min(committed, safe)
            if system and safe is not None and committed is not None and safe < committed:
                # What the shift skipped sorts after `safe`: move the cursor back first, so a
                # crash before the re-read cannot lose it.
                self.cursors.put(self.scope.source, rtype, _format(safe), self.now())
            log.info("%s: restarting the search from its cursor (%s)", rtype, reason)

    def _pages(
        self,
        rtype: str,
        patient: str | None,
        lower: datetime | None,
        report: TypeReport,
        medications: set[str],
    ) -> Iterator[tuple[datetime | None, datetime | None]]:
        """Store each page; yield (server date of the first page, newest lastUpdated or None).

        The newest lastUpdated is a safe cursor only while the server sorts by it: a server
        echoes the parameters it used in the self link (hl7.org/fhir/R4/search.html#conformance),
        so without `_sort=_lastUpdated` there the pages are stored but no cursor is offered until
        the search has ended.
        """
        params: dict[str, Any] = {"_sort": "_lastUpdated", "_count": self.scope.page_size}
        if patient is not None:
            params["patient"] = patient
        if lower is not None:
            params["_lastUpdated"] = f"ge{_format(lower - self.scope.overlap)}"
        total: int | None = None
        ids: dict[str, tuple[str, datetime | None]] = {}  # id → (version, lastUpdated) seen
        newest: datetime | None = None
        start: datetime | None = None
        sorted_by_server: bool | None = None
        for page in _ahead(self.client.pages(rtype, params)):
            start = start or page.server_date
            if sorted_by_server is None:
                sorted_by_server = _sorted_by_last_updated(page.bundle)
            page_total = page.bundle.get("total")
            if isinstance(page_total, int):
                if total is not None and page_total != total:
                    # Something was added or deleted while we paged: a resource at the page
                    # boundary may have been skipped. It sorts at or after what we had read.
                    raise _Restart("pages-shifted", newest)
                total = page_total
            resources = _matches(page, rtype)
            for resource in resources:
                rid, version = str(resource.get("id")), _version(resource)
                updated = _parse(_last_updated(resource))
                if rid in ids and ids[rid][0] != version:
                    # Changed while we paged: it moved, and what it moved past may be skipped.
                    raise _Restart("pages-shifted", ids[rid][1])
                ids[rid] = (version, updated)
                newest = _max(newest, updated)
            self._store(rtype, resources, report, medications)
            self.ingest.flush()  # the data, committed, before any cursor that covers it
            yield start, (newest if sorted_by_server else None)
        if not sorted_by_server:
            yield start, newest

    def _store(
        self,
        rtype: str,
        resources: list[dict[str, Any]],
        report: TypeReport,
        medications: set[str],
    ) -> None:
        known = self.cursors.known_versions(rtype, [str(r.get("id")) for r in resources])
        for resource in resources:
            rid, version = str(resource.get("id")), _version(resource)
            report.read += 1
            self._read += 1
            ref = relative_reference(resource.get("medicationReference"))
            if ref and ref.startswith("Medication/"):
                medications.add(ref.split("/", 1)[1])
            key = (rtype, rid, version)
            if key in self._seen or (rid in known and _same(known[rid], resource)):
                report.duplicates += 1
                self.ingest.duplicate(rtype)
                continue
            self._seen.add(key)
            self.ingest.add(Received(resource=resource, raw=None, location=rtype))
            report.stored += 1
        if self.progress is not None:
            self.progress("sync", self._read)

    def _commit_cursor(
        self,
        rtype: str,
        newest: datetime | None,
        start: datetime | None,
        report: TypeReport,
    ) -> None:
        if newest is None:
            return
        value = min(newest, start) if start is not None else newest
        previous = _parse(self.cursors.get(self.scope.source, rtype))
        if previous is not None and value <= previous:
            report.cursor = _format(previous)
            return
        self.cursors.put(self.scope.source, rtype, _format(value), self.now())
        report.cursor = _format(value)

    # ---- patients, and resources fetched by id ------------------------------------------
    def _patients(self) -> list[str] | None:
        if self.scope.group is not None:
            group = self.client.read("Group", self.scope.group.split("/", 1)[-1])
            members = [
                relative_reference((m or {}).get("entity")) for m in group.get("member") or ()
            ]
            return sorted({m.split("/", 1)[1] for m in members if m and m.startswith("Patient/")})
        if self.scope.patients is not None:
            return [p.split("/", 1)[-1] for p in self.scope.patients]
        return None

    def _by_ids(self, rtype: str, ids: list[str]) -> None:
        report = self.types.setdefault(rtype, TypeReport())
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            params: dict[str, str | int] = {"_id": ",".join(chunk), "_count": self.scope.page_size}
            for page in self.client.pages(rtype, params):
                self._store(rtype, _matches(page, rtype), report, set())
            self.ingest.flush()


def _ahead(pages: Iterator[Page]) -> Iterator[Page]:
    """The same pages, the next one fetched while the caller stores this one.

    The server searches while we write to the database, instead of each waiting for the other
    (bench/sync.py: about 1.6x the resources per second on 2 cores). One page ahead, no more:
    memory stays at two pages. Errors reach the caller in order, after the pages before them.
    """
    slot: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(("error", exc))

    worker = threading.Thread(target=fetch, name="fhirbridge-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slot.get()
            if kind == "page":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
        worker.join(timeout=120)


class _Restart(Exception):
    """Control flow inside this module: the pages shifted, search again from `safe`."""

    def __init__(self, reason: str, safe: datetime | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.safe = safe


def _matches(page: Page, rtype: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for entry in page.bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, dict) and resource.get("resourceType") == rtype:
            found.append(resource)
    return found


def _last_updated(resource: Mapping[str, Any]) -> str | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) else None


def _version(resource: Mapping[str, Any]) -> str:
    """versionId, else lastUpdated: what tells two versions of one resource apart."""
    meta = resource.get("meta")
    if isinstance(meta, Mapping) and meta.get("versionId"):
        return str(meta["versionId"])
    return f"@{_last_updated(resource)}"


def _same(stored: tuple[str | None, str | None], resource: Mapping[str, Any]) -> bool:
    version_id, last_updated = stored
    meta = resource.get("meta")
    if version_id and isinstance(meta, Mapping) and meta.get("versionId"):
        return version_id == str(meta["versionId"])
    return last_updated is not None and last_updated == _last_updated(resource)


def _parse(value: str | None) -> datetime | None:
    """An instant (FHIR `instant`, or our cursor format) as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _format(value: datetime) -> str:
    """Millisecond precision, floored, in UTC with Z: what `_lastUpdated=ge` is sent with."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _sorted_by_last_updated(bundle: Mapping[str, Any]) -> bool:
    for link in bundle.get("link") or ():
        if isinstance(link, Mapping) and link.get("relation") == "self":
            query = parse_qs(urlsplit(str(link.get("url") or "")).query)
            return "_lastUpdated" in query.get("_sort", [""])[0].split(",")[:1]
    return False


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)
