"""Output files of a run (CONTRACT.md): findings.ndjson, adherence.ndjson, run-report.json,
and the printed summary table. Deterministic: sorted, stable keys, no timestamps inside lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.adherence import Measure
from fhirbridge.findings import Finding, sort_key

SEVERITIES = ("high", "moderate", "low")


def write_ndjson(path: Path, lines: Iterable[Mapping[str, Any]]) -> int:
    """Write one JSON object per line; returns the count. Written whole, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("wb") as handle:
        for line in lines:
            handle.write(orjson.dumps(line))
            handle.write(b"\n")
            count += 1
    tmp.replace(path)
    return count


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    tmp.replace(path)


def write_findings(out: Path, findings: Iterable[Finding]) -> int:
    return write_ndjson(
        out / "findings.ndjson", (f.to_json() for f in sorted(findings, key=sort_key))
    )


def write_adherence(out: Path, results: Iterable[Measure]) -> int:
    # Stable sort: per patient and group the PDC line, then the AMM phases (analysis order).
    ordered = sorted(results, key=lambda r: (r.patient, r.group))
    return write_ndjson(out / "adherence.ndjson", (r.to_json() for r in ordered))


def summary_table(findings: Iterable[Finding]) -> str:
    """Findings by rule and severity, as a plain-text table for the terminal."""
    counts: Counter[tuple[str, str]] = Counter((f.rule, f.severity.value) for f in findings)
    rules = sorted({rule for rule, _ in counts})
    width = max([len("rule"), *(len(r) for r in rules)])
    header = f"{'rule':<{width}}  " + "  ".join(f"{s:>8}" for s in SEVERITIES) + "     total"
    lines = [header, "-" * len(header)]
    for rule in rules:
        row = [counts[(rule, s)] for s in SEVERITIES]
        lines.append(f"{rule:<{width}}  " + "  ".join(f"{n:>8}" for n in row) + f"  {sum(row):>8}")
    if not rules:
        lines.append("(no findings)")
    return "\n".join(lines)
