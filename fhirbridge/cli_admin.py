"""Entrypoint: administration commands of `fhirbridge` (database, integrator mappings, API
tokens, SMART keys); registered on the main group in cli.py."""

from __future__ import annotations

from pathlib import Path

import click

from fhirbridge.cli_options import command_services, config_option, db_option
from fhirbridge.errors import ConfigError


@click.group()
def db() -> None:
    """Database administration."""


@db.command("upgrade")
@db_option
@config_option
def db_upgrade(db: str | None, config: Path | None) -> None:
    """Create or migrate the schema to the newest revision."""

    with command_services(config, db):
        click.echo("database is at the newest schema revision")


@click.group()
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

    with command_services(config, db) as services:
        rows = unmapped_codes(services)
    if not rows:
        click.echo("every medication code in the store is classified or mapped")
    for label, count in rows[:limit]:
        click.echo(f"{count:>8}  {label}")


@mappings.command("import-conceptmap")
@click.argument("conceptmap", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The mapping file to write (TOML), e.g. config/mappings/formulary.toml.",
)
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


@click.group("api-token")
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


@click.group()
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
