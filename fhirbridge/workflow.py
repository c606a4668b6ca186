"""Use cases as the CLI and API run them: each stage recorded as a run with its report and
output files (CONTRACT.md). Composes services; holds no domain logic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from fhirbridge.analyze_stage import AnalyzeResult
from fhirbridge.errors import ConfigError
from fhirbridge.findings import Finding
from fhirbridge.reports import write_adherence, write_findings, write_json
from fhirbridge.services import Progress, Services, timed
from fhirbridge.settings import Settings
from fhirbridge.store import SqlLedger
from fhirbridge.writeback import (
    FindingState,
    Profile,
    Publisher,
    PublishReport,
    WriteOptions,
    entry_for,
    load_profile,
    transaction_bundle,
    validate,
)
from fhirbridge.writeback.build import build_provenance
from fhirbridge.writeback.bundle import full_url
from fhirbridge.writeback.plan import PlannedWrite


def _noop(_stage: str, _done: int) -> None:
    return None


def _recorded(
    services: Services,
    command: str,
    source: str | None,
    as_of: date,
    body: Callable[[int, dict[str, Any]], None],
) -> dict[str, Any]:
    """Run `body(run_id, report)` as a recorded run; the report is saved even when it fails."""
    run_id = services.store.start_run(command, source, as_of, services.now())
    report: dict[str, Any] = {
        "run_id": run_id,
        "command": command,
        "as_of": as_of.isoformat(),
        "durations_s": {},
    }
    try:
        body(run_id, report)
    except BaseException as exc:
        report["error"] = type(exc).__name__
        services.store.finish_run(run_id, "failed", _public(report), services.now())
        raise
    services.store.finish_run(run_id, "ok", _public(report), services.now())
    return report


def _public(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def run_sync(
    services: Services, *, source: str | None, as_of: date, progress: Progress = _noop
) -> dict[str, Any]:
    def body(run_id: int, report: dict[str, Any]) -> None:
        counts, report["durations_s"]["sync"] = timed(
            lambda: services.sync(source, as_of, run_id, progress)
        )
        report.update(counts.as_report())

    return _recorded(services, "sync", source, as_of, body)


def run_analyze(
    services: Services, *, as_of: date, out: Path, progress: Progress = _noop
) -> dict[str, Any]:
    def body(run_id: int, report: dict[str, Any]) -> None:
        _analyze_into(services, as_of, out, run_id, report, progress)
        write_json(out / "run-report.json", _public(report))

    return _recorded(services, "analyze", None, as_of, body)


def run_writeback(
    services: Services,
    *,
    source: str | None,
    as_of: date,
    out: Path,
    target: str | None = None,
) -> dict[str, Any]:
    """Write back every finding the store knows, open or resolved (nothing is re-analyzed).

    The target is `target`, else the `target` of the configured connection whose base_url is
    `source`, else bundle-file; writeback-bundle.json and run-report.json go to `out`.
    """
    source = services.source_url(source)  # a connection name writes back to its base URL
    profile = _profile(services.settings, source, target)

    def body(run_id: int, report: dict[str, Any]) -> None:
        _writeback_into(services, profile, as_of, out, source, run_id, report)
        write_json(out / "run-report.json", _public(report))

    return _recorded(services, "writeback", source, as_of, body)


def run_all(
    services: Services,
    *,
    source: str | None,
    as_of: date,
    out: Path,
    target: str | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """sync, analyze, write back: the main job (target resolved as in run_writeback)."""
    source = services.source_url(source)  # a connection name writes back to its base URL
    profile = _profile(services.settings, source, target)
    if profile.sends and not (source or "").startswith(("http://", "https://")):
        raise ConfigError(
            "--target",
            "",
            f"{profile.name} writes to the source server: give --source a FHIR base URL",
        )

    def body(run_id: int, report: dict[str, Any]) -> None:
        report["source"] = "example data" if source is None else source.split("?", 1)[0]
        counts, report["durations_s"]["sync"] = timed(
            lambda: services.sync(source, as_of, run_id, progress)
        )
        report.update(counts.as_report())
        _analyze_into(services, as_of, out, run_id, report, progress)
        _writeback_into(services, profile, as_of, out, source, run_id, report)
        write_json(out / "run-report.json", _public(report))

    return _recorded(services, "run", source, as_of, body)


def _analyze_into(
    services: Services,
    as_of: date,
    out: Path,
    run_id: int,
    report: dict[str, Any],
    progress: Progress,
) -> AnalyzeResult:
    result, report["durations_s"]["analyze"] = timed(
        lambda: services.analyze(as_of, run_id, progress)
    )
    report.update(result.as_report())
    write_findings(out, result.findings)
    write_adherence(out, result.adherence)
    report["_findings"] = result.findings
    return result


def _profile(settings: Settings, source: str | None, target: str | None) -> Profile:
    """The target profile: `target`, else the connection's for `source`, else bundle-file.

    Raises:
        ConfigError: an unknown target or a bad `[writeback.profiles.<name>]` option.
    """
    if target is None:
        base = (source or "").split("?", 1)[0].rstrip("/")
        chosen = [c.target for c in settings.connections if c.base_url.rstrip("/") == base]
        target = chosen[0] if chosen else "bundle-file"
    options = settings.writeback_profiles.get(target, {})
    try:
        return load_profile(target, options)
    except ValueError as exc:
        file = settings.config_file or "(configuration)"
        raise ConfigError(file, f"writeback/profiles/{target}", str(exc)) from None


def _finding_states(services: Services) -> list[FindingState]:
    """Every open or resolved finding in the store with its lifecycle dates (write-back plans
    them all). Suppressed ones (acknowledged by a clinician, store/suppression.py) are not
    written."""
    return [
        FindingState(
            finding=Finding.from_line(row.body),
            first_seen=row.first_seen,
            opened_on=row.opened_on or row.first_seen,
            resolved_on=row.resolved_on if row.status == "resolved" else None,
        )
        for row in services.store.findings()
        if row.status in ("open", "resolved")
    ]


def _writeback_into(
    services: Services,
    profile: Profile,
    as_of: date,
    out: Path,
    source: str | None,
    run_id: int,
    report: dict[str, Any],
) -> None:
    """Plan with the profile, validate (R4B), write the bundle file, publish to the server."""
    report["target"] = profile.name
    if not profile.sends and not profile.bundle_file:
        return
    settings = services.settings
    base = (source or "").split("?", 1)[0].rstrip("/")
    if profile.sends and not base.startswith(("http://", "https://")):
        raise ConfigError("--source", "", f"{profile.name} needs the FHIR base URL to write to")
    options = WriteOptions(
        device=settings.device,
        organization=settings.organization,
        security=profile.security if profile.security is not None else settings.security_labels,
    )
    ledger = SqlLedger(services.store.engine)
    states = _finding_states(services)

    def plan() -> list[PlannedWrite]:
        written: frozenset[str] = frozenset()
        if profile.sends and profile.create_only:  # announced episodes (ehr_restricted.py)
            written = written.union(*(ledger.written(base, t) for t in profile.resource_types))
        return profile.plan(states, options, written=written)

    writes, report["durations_s"]["plan"] = timed(plan)
    valid, rejected = _validated(writes)
    report["planned"] = _count_types(writes)
    if profile.bundle_file:
        write_json(out / "writeback-bundle.json", _bundle(services, options, valid))
    if not profile.sends:
        invalid = PublishReport()
        for write, message in rejected:
            invalid.failed(write, "invalid", message, None)
        report["write_errors"] = invalid.errors
        return
    client = services.client_for(base)  # with the connection's SMART auth, when it has one
    publisher = Publisher(
        client,
        ledger,
        profile=profile,
        options=options,
        now=services.now,
        run_id=run_id,
        after_write=services.writeback_hook,
    )
    published, report["durations_s"]["writeback"] = timed(
        lambda: publisher.publish(valid, rejected)
    )
    report.update(published.as_report())


def _validated(
    writes: list[PlannedWrite],
) -> tuple[list[PlannedWrite], list[tuple[PlannedWrite, str]]]:
    """Split writes into R4B-valid ones and rejected ones (with the reason), per patient: a write
    that refers to a rejected one is rejected too, so nothing dangles and others go ahead."""
    valid: list[PlannedWrite] = []
    rejected: list[tuple[PlannedWrite, str]] = []
    bad: set[tuple[str, str]] = set()
    for write in writes:
        waits = [d for d in write.depends_on if (d[0], f"{d[1]}|{d[2]}") in bad]
        try:
            if waits:
                raise ValueError(f"refers to {waits[0][0]} {waits[0][1]}|{waits[0][2]}, rejected")
            validate(write.resource)  # R4B, before anything leaves fhirbridge
        except ValueError as exc:
            bad.add(write.key)
            rejected.append((write, str(exc)))
            continue
        valid.append(write)
    return valid, rejected


def _bundle(
    services: Services, options: WriteOptions, writes: list[PlannedWrite]
) -> dict[str, Any]:
    """writeback-bundle.json: the planned writes plus a Provenance per patient."""
    entries = [entry_for(w.resource) for w in writes]
    recorded = services.now().isoformat(timespec="seconds")
    patients: dict[str, list[str]] = {}
    for write in writes:
        patients.setdefault(write.patient, []).append(full_url(write.system, write.value))
    for refs in patients.values():
        provenance = build_provenance(
            refs,
            recorded=recorded,
            device=options.device,
            on_behalf_of=options.organization,
            security=options.security,
        )
        validate(provenance)
        entries.append(entry_for(provenance))
    return transaction_bundle(entries)


def _count_types(writes: list[PlannedWrite]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for write in writes:
        counts[write.resource_type] = counts.get(write.resource_type, 0) + 1
    return dict(sorted(counts.items()))
