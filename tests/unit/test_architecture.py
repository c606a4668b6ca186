"""The pure-domain contract (STYLE.md row 11): no I/O libraries in domain packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fhirbridge

PACKAGE = Path(fhirbridge.__file__).parent
PURE = [
    *sorted((PACKAGE / "mappers").glob("*.py")),
    *sorted((PACKAGE / "adherence").glob("*.py")),
    *sorted((PACKAGE / "reconciliation").glob("*.py")),
    PACKAGE / "findings.py",
    PACKAGE / "records.py",
    PACKAGE / "analysis.py",
    PACKAGE / "slotted.py",
    PACKAGE / "stage_transfer.py",
    PACKAGE / "writeback" / "build.py",
    PACKAGE / "writeback" / "bundle.py",
    PACKAGE / "writeback" / "plan.py",
    # Target profiles and the notice builders (issue 5): pure too; publisher.py is the I/O.
    PACKAGE / "writeback" / "build_notice.py",
    PACKAGE / "writeback" / "profile.py",
    PACKAGE / "writeback" / "profiles.py",
    PACKAGE / "writeback" / "fhir_full.py",
    PACKAGE / "writeback" / "ehr_restricted.py",
    PACKAGE / "writeback" / "bundle_file.py",
    PACKAGE / "writeback" / "none.py",
]
FORBIDDEN = (
    "requests",
    "sqlmodel",
    "sqlalchemy",
    "flask",
    "fhirbridge.store",
    "fhirbridge.sync",
    "fhirbridge.api",
    "fhirbridge.services",
)
CLOCK_READS = ("today", "now", "utcnow", "time")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_modules_import_no_io(path: Path) -> None:
    bad = sorted(
        name for name in _imports(path) for f in FORBIDDEN if name == f or name.startswith(f + ".")
    )
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_modules_read_no_clock(path: Path) -> None:
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_READS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("date", "datetime", "time")
    ]
    assert calls == [], f"{path.name} reads the clock: {calls}"
