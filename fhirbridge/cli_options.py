"""Entrypoint: the option types and the services context the `fhirbridge` commands share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from fhirbridge.services import Services

TARGETS = ("bundle-file", "fhir-full", "ehr-restricted", "none")


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


def as_of_default() -> date:
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


@contextmanager
def command_services(config: Path | None, db: str | None) -> Iterator[Services]:
    """Services for one command, with connections released at the end."""
    from fhirbridge.bootstrap import build_services

    services = build_services(config=config, database_url=db)
    try:
        yield services
    finally:
        services.close()
