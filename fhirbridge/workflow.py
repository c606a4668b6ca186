"""Use cases as the CLI and API run them: each stage recorded as a run with its report and
output files (CONTRACT.md). Composes services; holds no domain logic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from fhirbridge.errors import ConfigError
from fhirbridge.findings import Finding
from fhirbridge.reports import write_adherence, write_findings, write_json
from fhirbridge.services import AnalyzeResult, Progress, Services, timed
from fhirbridge.writeback import (
    Publisher,
    WriteOptions,
    entry_for,
    plan_writes,
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
    services: Services, *, source: str | None, as_of: date, out: Path, target: str
) -> dict[str, Any]:
    """Write the store's current findings (open, and resolved on `as_of`)."""

    def body(run_id: int, report: dict[str, Any]) -> None:
        opened = [Finding.from_json(_loads(r.body)) for r in services.store.findings(status="open")]
        resolved = [
            Finding.from_json(_loads(r.body))
            for r in services.store.findings(status="resolved")
            if r.resolved_on == as_of
        ]
        _writeback_into(services, opened, resolved, as_of, out, target, source, report)

    return _recorded(services, "writeback", source, as_of, body)


def run_all(
    services: Services,
    *,
    source: str | None,
    as_of: date,
    out: Path,
    target: str,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """sync, analyze, write back: the main job."""
    if target in ("fhir-full", "ehr-restricted") and not (source or "").startswith(
        ("http://", "https://")
    ):
        raise ConfigError(
            "--target", "", f"{target} writes to the source server: give --source a FHIR base URL"
        )

    def body(run_id: int, report: dict[str, Any]) -> None:
        report["source"] = "example data" if source is None else source.split("?", 1)[0]
        counts, report["durations_s"]["sync"] = timed(
            lambda: services.sync(source, as_of, run_id, progress)
        )
        report.update(counts.as_report())
        result = _analyze_into(services, as_of, out, run_id, report, progress)
        _writeback_into(
            services, result.findings, result.resolved, as_of, out, target, source, report
        )
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


def _writeback_into(
    services: Services,
    opened: list[Finding],
    resolved: list[Finding],
    as_of: date,
    out: Path,
    target: str,
    source: str | None,
    report: dict[str, Any],
) -> None:
    if target == "none":
        return
    if target == "ehr-restricted":
        raise ConfigError(
            "--target", "", "ehr-restricted is not available yet; use bundle-file or fhir-full"
        )
    settings = services.settings
    first_seen = {r.key: r.first_seen for r in services.store.findings()}
    writes, seconds = timed(
        lambda: plan_writes(
            opened,
            resolved,
            first_seen=first_seen,
            as_of=as_of,
            options=WriteOptions(device=settings.device, security=settings.security_labels),
        )
    )
    for write in writes:
        validate(write.resource)  # R4B, before anything leaves fhirbridge
    write_json(out / "writeback-bundle.json", _bundle(services, writes))
    report["durations_s"]["plan"] = seconds
    report["planned"] = _count_types(writes)
    if target == "fhir-full":
        if not source or not source.startswith(("http://", "https://")):
            raise ConfigError("--source", "", "fhir-full needs the FHIR base URL to write to")
        client = services.client_factory(source.rstrip("/"))
        publisher = Publisher(
            client,
            services.store,
            now=services.now,
            device=settings.device,
            organization=settings.organization,
            security=settings.security_labels,
        )
        published, report["durations_s"]["writeback"] = timed(lambda: publisher.publish(writes))
        report.update(published.as_report())


def _bundle(services: Services, writes: list[PlannedWrite]) -> dict[str, Any]:
    """writeback-bundle.json: the planned writes plus a Provenance per patient."""
    settings = services.settings
    entries = [entry_for(w.resource) for w in writes]
    recorded = services.now().isoformat(timespec="seconds")
    patients: dict[str, list[str]] = {}
    for write in writes:
        patients.setdefault(write.patient, []).append(full_url(write.system, write.value))
    for refs in patients.values():
        provenance = build_provenance(
            refs,
            recorded=recorded,
            device=settings.device,
            on_behalf_of=settings.organization,
            security=settings.security_labels,
        )
        validate(provenance)
        entries.append(entry_for(provenance))
    return transaction_bundle(entries)


def _count_types(writes: list[PlannedWrite]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for write in writes:
        counts[write.resource_type] = counts.get(write.resource_type, 0) + 1
    return dict(sorted(counts.items()))


def _loads(body: str) -> dict[str, Any]:
    import orjson

    data: dict[str, Any] = orjson.loads(body)
    return data
