"""Entrypoint: the `fhirbridge` command (CONTRACT.md). Parses, calls services, prints, exits.

Exit codes: 0 success (skipped resources are counted, not failures); 2 usage or configuration
error; 3 source unreachable or authorization failed; 1 anything else. Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import click

from fhirbridge import cli_admin
from fhirbridge.cli_options import (
    as_of_default,
    as_of_option,
    command_services,
    config_option,
    db_option,
    out_option,
    source_option,
    target_option,
)
from fhirbridge.errors import (
    ConfigError,
    FhirAuthError,
    FhirBridgeError,
    FhirError,
    FhirRejected,
    FhirTransientError,
    SourceError,
)

log = logging.getLogger("fhirbridge")


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """fhirbridge: medication adherence and cross-prescriber safety over FHIR R4."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@cli.command()
@source_option
@as_of_option
@out_option
@db_option
@config_option
@target_option
def run(
    source: str | None,
    as_of: date | None,
    out: Path,
    db: str | None,
    config: Path | None,
    target: str | None,
) -> None:
    """The main job, end to end: sync, analyze, write back."""
    from fhirbridge.workflow import run_all

    with command_services(config, db) as services:
        report = run_all(
            services,
            source=source,
            as_of=as_of or as_of_default(),
            out=out,
            target=target,
            progress=_progress,
        )
    _print_summary(report, out)


@cli.command()
@source_option
@as_of_option
@db_option
@config_option
@click.option(
    "--cancel-export",
    is_flag=True,
    help="Cancel the $export job saved for the connection(s) instead of syncing.",
)
def sync(
    source: str | None, as_of: date | None, db: str | None, config: Path | None, cancel_export: bool
) -> None:
    """Read a source into the store (a connection name, a base URL, a path; default: every
    configured connection, else the example data)."""
    from fhirbridge.workflow import run_sync

    with command_services(config, db) as services:
        if cancel_export:
            from fhirbridge.sync.connections import cancel_exports

            click.echo(cancel_exports(services.settings.connections, source, services.store))
            return
        report = run_sync(
            services, source=source, as_of=as_of or as_of_default(), progress=_progress
        )
    click.echo(
        f"read {sum(report['resources_read'].values())} resources, "
        f"stored {sum(report['resources_stored'].values())}, "
        f"dead-lettered {report['dead_lettered_at_sync']}"
    )


@cli.command()
@as_of_option
@out_option
@db_option
@config_option
def analyze(as_of: date | None, out: Path, db: str | None, config: Path | None) -> None:
    """Analyze the store: findings.ndjson and adherence.ndjson."""
    from fhirbridge.workflow import run_analyze

    with command_services(config, db) as services:
        report = run_analyze(services, as_of=as_of or as_of_default(), out=out, progress=_progress)
    _print_summary(report, out)


@cli.command()
@click.option(
    "--source",
    "source",
    default=None,
    metavar="URL",
    help="FHIR base URL to write to (fhir-full, ehr-restricted).",
)
@as_of_option
@out_option
@db_option
@config_option
@target_option
def writeback(
    source: str | None,
    as_of: date | None,
    out: Path,
    db: str | None,
    config: Path | None,
    target: str | None,
) -> None:
    """Write the store's findings back, open and resolved (bundle file, or a FHIR server)."""
    from fhirbridge.workflow import run_writeback

    with command_services(config, db) as services:
        report = run_writeback(
            services,
            source=source,
            as_of=as_of or as_of_default(),
            out=out,
            target=target,
        )
    click.echo(_written_line(report.get("written", {})))
    if (line := _write_errors_line(report, out)) is not None:
        click.echo(line)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@db_option
@config_option
def serve(host: str, port: int, workers: int, db: str | None, config: Path | None) -> None:
    """Serve the HTTP API: CDS Hooks, /health, /ready, /metrics."""
    from fhirbridge.api import create_app
    from fhirbridge.api.server import serve as run_server
    from fhirbridge.bootstrap import build_services

    services = build_services(config=config, database_url=db)
    # Migrations ran here in the parent; pooled connections must not cross into the forked
    # workers (SQLAlchemy: dispose the pool before fork), so each worker opens its own.
    services.store.engine.dispose()
    click.echo(f"fhirbridge API on http://{host}:{port} (CDS Hooks discovery: /cds-services)")
    run_server(create_app(services=services), host=host, port=port, workers=workers)


def _progress(stage: str, done: int) -> None:
    if sys.stderr.isatty():
        click.echo(f"\r{stage}: {done:,}", nl=False, err=True)


def _written_line(written: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{rtype} " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
        for rtype, outcomes in sorted(written.items())
    ]
    return "written: " + ("; ".join(parts) if parts else "nothing")


def _write_errors_line(report: dict[str, Any], out: Path) -> str | None:
    """One line when write-back left errors (they are in run-report.json, with the finding)."""
    errors, queued = report.get("write_errors") or [], report.get("outbox") or {}
    if not errors and not queued:
        return None
    kept = ", ".join(f"{n} {status}" for status, n in sorted(queued.items()))
    return (
        f"{len(errors)} write-back error(s)"
        + (f"; outbox: {kept}" if kept else "")
        + f"; details in {out / 'run-report.json'}"
    )


def _print_summary(report: dict[str, Any], out: Path) -> None:
    from fhirbridge.reports import summary_table

    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(
        f"as of {report['as_of']}: {report.get('patients_analyzed', 0)} patients, "
        f"{sum(report.get('findings', {}).values())} findings"
    )
    click.echo(summary_table(report.get("_findings", [])))
    if "written" in report:
        click.echo(_written_line(report["written"]))
    if (line := _write_errors_line(report, out)) is not None:
        click.echo(line)
    skipped = sum(report.get("skipped_at_sync", {}).values()) + sum(
        report.get("skipped_at_analysis", {}).values()
    )
    dead = report.get("dead_lettered_at_sync", 0) + report.get("dead_lettered_at_analysis", 0)
    click.echo(
        f"skipped {skipped} resources ({dead} dead-lettered); details in {out / 'run-report.json'}"
    )


def exit_code(error: BaseException) -> int:
    """CONTRACT.md exit codes for an error."""
    if isinstance(error, ConfigError | SourceError):
        return 2
    if isinstance(error, FhirAuthError | FhirTransientError):
        return 3
    if isinstance(error, FhirRejected) and error.status in (401, 403, 404):
        return 3
    if isinstance(error, FhirError):
        return 3 if error.status is None else 1
    return 1


# Administration commands live in cli_admin.py; registered here explicitly, in help order.
for _command in (cli_admin.db, cli_admin.mappings, cli_admin.api_token, cli_admin.keys):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    try:
        # Non-standalone click returns a command's Exit code instead of raising it.
        returned = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="fhirbridge",
            standalone_mode=False,
        )
    except click.exceptions.UsageError as exc:
        hint = (
            f" (see: fhirbridge {exc.ctx.info_name} --help)" if exc.ctx and exc.ctx.parent else ""
        )
        click.echo(f"fhirbridge: error: {exc.format_message()}{hint}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except FhirBridgeError as exc:
        click.echo(f"fhirbridge: error: {exc}", err=True)
        return exit_code(exc)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        click.echo(
            f"fhirbridge: internal error ({type(exc).__name__}); run with -vv for details", err=True
        )
        return 1
    return returned if isinstance(returned, int) else 0


def console() -> None:
    sys.exit(main())
