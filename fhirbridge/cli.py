"""Entrypoint: the `fhirbridge` command (CONTRACT.md). Parses, calls services, prints, exits.

Exit codes: 0 success (skipped resources are counted, not failures); 2 usage or configuration
error; 3 source unreachable or authorization failed; 1 anything else. Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fhirbridge.errors import (
    ConfigError,
    FhirAuthError,
    FhirBridgeError,
    FhirError,
    FhirRejected,
    FhirTransientError,
    SourceError,
)

if TYPE_CHECKING:
    from fhirbridge.services import Services

TARGETS = ("bundle-file", "fhir-full", "ehr-restricted", "none")
log = logging.getLogger("fhirbridge")


class AsOf(click.ParamType):  # type: ignore[type-arg]  # generic in click >= 8.2 stubs
    """A calendar date YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


def _as_of_default() -> date:
    return date.today()  # the only clock read for analysis: at the edge, as CONTRACT.md says


source_option = click.option(
    "--source",
    "source",
    default=None,
    metavar="SRC",
    help="FHIR base URL, or a file or directory of NDJSON/JSON. Default: the bundled example data.",
)
as_of_option = click.option(
    "--as-of", "as_of", type=AsOf(), default=None, help="Evaluation date (default: today)."
)
out_option = click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("fhirbridge-out"),
    show_default=True,
    help="Directory for output files.",
)
db_option = click.option(
    "--db",
    "db",
    default=None,
    metavar="URL",
    help="SQLAlchemy database URL (default sqlite:///fhirbridge.db).",
)
config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML configuration (default config/fhirbridge.toml when present).",
)
target_option = click.option(
    "--target",
    "target",
    type=click.Choice(TARGETS),
    default=None,
    help=(
        "Where findings are written back (default: the target of the configured connection "
        "whose base_url is --source, else bundle-file)."
    ),
)


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

    with _services(config, db) as services:
        report = run_all(
            services,
            source=source,
            as_of=as_of or _as_of_default(),
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

    with _services(config, db) as services:
        if cancel_export:
            from fhirbridge.sync.connections import cancel_exports

            click.echo(cancel_exports(services.settings.connections, source, services.store))
            return
        report = run_sync(
            services, source=source, as_of=as_of or _as_of_default(), progress=_progress
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

    with _services(config, db) as services:
        report = run_analyze(services, as_of=as_of or _as_of_default(), out=out, progress=_progress)
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

    with _services(config, db) as services:
        report = run_writeback(
            services,
            source=source,
            as_of=as_of or _as_of_default(),
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


@cli.group()
def db() -> None:
    """Database administration."""


@db.command("upgrade")
@db_option
@config_option
def db_upgrade(db: str | None, config: Path | None) -> None:
    """Create or migrate the schema to the newest revision."""

    with _services(config, db):
        click.echo("database is at the newest schema revision")


@cli.group()
def mappings() -> None:
    """Integrator mapping files (local and NDC codes, prescriber roles)."""


@mappings.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def mappings_validate(path: Path) -> None:
    """Check one mapping file: every problem, with file, line and path (exit 2 if any)."""
    from fhirbridge.mapping_tools import mapping_problems

    problems = mapping_problems(path)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(2)
    from fhirbridge.mappers.integrator import validate_mapping_file

    found = validate_mapping_file(str(path))
    roles = len(found.practitioners) + len(found.organizations) + len(found.departments)
    click.echo(f"{path}: OK ({len(found.medications)} medication codes, {roles} prescriber roles)")


@mappings.command("coverage")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@db_option
@config_option
def mappings_coverage(limit: int, db: str | None, config: Path | None) -> None:
    """Medication codes in the store that no table or mapping knows, most frequent first."""
    from fhirbridge.mapping_tools import unmapped_codes

    with _services(config, db) as services:
        rows = unmapped_codes(services)
    if not rows:
        click.echo("every medication code in the store is classified or mapped")
    for label, count in rows[:limit]:
        click.echo(f"{count:>8}  {label}")


@mappings.command("import-conceptmap")
@click.argument("conceptmap", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The mapping file to write (TOML), e.g. config/mappings/formulary.toml.")
def mappings_import_conceptmap(conceptmap: Path, out: Path) -> None:
    """Turn a FHIR ConceptMap (local or NDC codes to RxNorm) into a mapping file."""
    import orjson

    from fhirbridge.mapping_tools import conceptmap_to_mapping

    try:
        resource = orjson.loads(conceptmap.read_bytes())
    except orjson.JSONDecodeError:
        raise ConfigError(str(conceptmap), "", "not valid JSON") from None
    text, skipped = conceptmap_to_mapping(resource)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    mapped = text.count("\n") - 3
    click.echo(f"wrote {out}: {mapped} codes; {len(skipped)} skipped")
    for reason in skipped:
        click.echo(f"  skipped {reason}", err=True)


@cli.group("api-token")
def api_token() -> None:
    """Operator API bearer tokens."""


@api_token.command("new")
@click.option("--name", required=True, help="Who or what holds the token (shown in the audit).")
@click.option("--role", required=True, type=click.Choice(["operator", "integrator", "read-only"]))
def api_token_new(name: str, role: str) -> None:
    """Print a new token once, and the line to add to the tokens file (which keeps its hash)."""
    from fhirbridge.api.tokens import hash_token, new_token

    token = new_token()
    click.echo(f"token (shown once; give it to {name}): {token}")
    click.echo("add to the [api] tokens_file:")
    click.echo(f'[[tokens]]\nname = "{name}"\nrole = "{role}"\nsha256 = "{hash_token(token)}"')


@cli.group()
def keys() -> None:
    """Signing keys for SMART Backend Services (client assertions)."""


@keys.command("generate")
@click.option("--alg", type=click.Choice(["ES384", "RS384"]), default="ES384", show_default=True)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("keys"),
    show_default=True,
    help="Directory for private-key.pem (mode 0600) and jwks.json.",
)
def keys_generate(alg: str, out: Path) -> None:
    """Write a new key pair; register jwks.json (or the JWKS `fhirbridge serve` publishes)."""
    from fhirbridge.sync.keys import write_key_pair

    try:
        private, jwks, kid = write_key_pair(out, alg)
    except FileExistsError:
        raise ConfigError(
            str(out / "private-key.pem"), "", "a key is already there; it is never overwritten"
        ) from None
    click.echo(f"private key: {private} (mode 0600; set private_key_file to it)")
    click.echo(f"public JWKS: {jwks} (register it with the EHR)")
    click.echo(f"kid: {kid}")


@contextmanager
def _services(config: Path | None, db: str | None) -> Iterator[Services]:
    """Services for one command, with connections released at the end."""
    from fhirbridge.bootstrap import build_services

    services = build_services(config=config, database_url=db)
    try:
        yield services
    finally:
        services.close()


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
