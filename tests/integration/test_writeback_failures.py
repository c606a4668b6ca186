"""Failure behaviour of the write-back against the real FHIR server: a rejected patient does not
stop the others and its OperationOutcome reaches run-report.json; transient failures are
retried within a bounded budget and what could not be written waits in the outbox, to be sent on
the next run.

Constructed patients (tests/writeback_support.chart): each takes buprenorphine/naloxone on one
order, 30-day fills on days -179, -119, -59 and -29 before 2026-06-30, so PDC = 120 / 180 =
0.6667 < 0.80: one pdc-below-threshold finding each (a DetectedIssue, a Flag, a CarePlan).
The rejected patient's data comes from an export whose order id carries a vertical tab (an
HL7 v2 interface artefact): fhirbridge reads it (tolerant reader) and R4B accepts the string,
but the server refuses the DetectedIssue that implicates it: 400 "Invalid string format".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirbridge.store import audit_entries, make_engine, outbox_entries
from tests.fhir_loading import search_all
from tests.writeback_support import RacyProxy, chart, on_server, prepare, running, writeback

pytestmark = pytest.mark.fhir_server
TYPES = ("DetectedIssue", "Flag", "CarePlan")


def test_a_rejected_patient_does_not_stop_the_others(fhir_base_url: str, tmp_path: Path) -> None:
    common = prepare(tmp_path, [chart(92), chart(93)], bad=93)
    first = writeback(fhir_base_url, common, tmp_path / "out")
    # Patient 92 written in full; patient 93's DetectedIssue refused, its Flag and CarePlan wait.
    assert first["written"] == {
        "CarePlan": {"created": 1, "pending": 1},
        "DetectedIssue": {"created": 1, "failed": 1},
        "Flag": {"created": 1, "pending": 1},
        "Provenance": {"created": 3},
    }
    rejected, *waiting = first["write_errors"]
    assert rejected["patient"] == "Patient/ex-pt-93"
    assert (rejected["resource_type"], rejected["rule"], rejected["http_status"]) == (
        "DetectedIssue",
        "pdc-below-threshold",
        400,
    )
    assert rejected["error"] == "Invalid string format (DetectedIssue.implicated[0].reference)"
    assert rejected["finding"] == rejected["identifier"].split("|")[1]
    assert [(w["resource_type"], w["error"]) for w in waiting] == [
        ("Flag", f"waits for DetectedIssue {rejected['identifier']}, which is not written yet"),
        ("CarePlan", f"waits for DetectedIssue {rejected['identifier']}, which is not written yet"),
    ]
    assert first["outbox"] == {"pending": 2, "rejected": 1}
    assert on_server(fhir_base_url) == {t: ["Patient/ex-pt-92"] for t in TYPES}
    # The rejection is kept with its finding, for the operator.
    engine = make_engine(common[3])
    (kept,) = outbox_entries(engine, fhir_base_url, status="rejected")
    assert (kept.finding_key, kept.rule) == (rejected["finding"], "pdc-below-threshold")
    assert kept.last_error == rejected["error"]
    # The audit has every attempt and its outcome: three writes and their Provenances for 92,
    # the refusal for 93 (what waited for it was never attempted, so it is in the outbox only).
    trail = [
        (a.patient_id, a.resource_type, a.outcome, a.http_status) for a in audit_entries(engine)
    ]
    assert sorted(trail, key=str) == sorted(
        [
            ("Patient/ex-pt-92", "CarePlan", "created", None),
            ("Patient/ex-pt-92", "DetectedIssue", "created", None),
            ("Patient/ex-pt-92", "Flag", "created", None),
            *[("Patient/ex-pt-92", "Provenance", "created", None)] * 3,
            ("Patient/ex-pt-93", "DetectedIssue", "rejected", 400),
        ],
        key=str,
    )
    engine.dispose()


def test_transient_failures_wait_in_the_outbox_and_go_out_on_the_next_run(
    fhir_base_url: str, tmp_path: Path
) -> None:
    common = prepare(tmp_path, [chart(92), chart(94)])

    def patient_94_down(method: str, path: str, body: dict[str, Any] | None) -> bool:
        return method == "POST" and b"ex-pt-94" in orjson.dumps(body or {})

    proxy = RacyProxy(upstream=fhir_base_url, fail=patient_94_down)
    with running(proxy):
        first = writeback(proxy.base_url, common, tmp_path / "out1")
        # The DetectedIssue of 94 was tried 1 + 4 times (the client's retry budget: 503 with
        # Retry-After 0), then left pending; its Flag and CarePlan wait for it, untried.
        tries = [p for m, p, _ in proxy.log if m == "POST" and p.startswith("/DetectedIssue")]
        assert len(tries) == 1 + 5  # 92's once, 94's five times
        assert first["written"] == {
            "CarePlan": {"created": 1, "pending": 1},
            "DetectedIssue": {"created": 1, "pending": 1},
            "Flag": {"created": 1, "pending": 1},
            "Provenance": {"created": 3},
        }
        assert first["outbox"] == {"pending": 3}
        assert "503" in first["write_errors"][0]["error"]

        proxy.fail = None  # the server is back
        second = writeback(proxy.base_url, common, tmp_path / "out2")
    assert second["written"] == {
        "CarePlan": {"created": 1, "unchanged": 1},
        "DetectedIssue": {"created": 1, "unchanged": 1},
        "Flag": {"created": 1, "unchanged": 1},
        "Provenance": {"created": 3},
    }
    assert (second["write_errors"], second["outbox"]) == ([], {})
    assert on_server(fhir_base_url) == {t: ["Patient/ex-pt-92", "Patient/ex-pt-94"] for t in TYPES}


def test_a_provenance_that_failed_is_sent_on_the_next_run(
    fhir_base_url: str, tmp_path: Path
) -> None:
    common = prepare(tmp_path, [chart(92)])
    proxy = RacyProxy(upstream=fhir_base_url, fail=lambda m, p, _: p.startswith("/Provenance"))
    with running(proxy):
        first = writeback(proxy.base_url, common, tmp_path / "out1")
        assert first["written"]["Provenance"] == {"pending": 3}
        assert first["outbox"] == {"pending": 3}
        proxy.fail = None
        # Nothing changed, so the plan writes nothing: only the outbox sends its Provenances.
        second = writeback(proxy.base_url, common, tmp_path / "out2")
    assert second["written"] == {
        "CarePlan": {"unchanged": 1},
        "DetectedIssue": {"unchanged": 1},
        "Flag": {"unchanged": 1},
        "Provenance": {"created": 3},
    }
    assert second["outbox"] == {}
    provenance = search_all(fhir_base_url, "Provenance?_count=50")
    targets = sorted(t["reference"].split("/")[0] for p in provenance for t in p["target"])
    assert targets == ["CarePlan", "DetectedIssue", "Flag"]
    (one, *_) = provenance
    assert one["agent"][0]["who"] == {"reference": "Device/fhirbridge"}


def test_a_server_that_is_down_costs_a_bounded_number_of_requests(
    fhir_base_url: str, tmp_path: Path
) -> None:
    common = prepare(tmp_path, [chart(n) for n in (92, 94, 95, 96)])
    proxy = RacyProxy(upstream=fhir_base_url, fail=lambda m, p, _: m == "POST")
    with running(proxy):
        first = writeback(proxy.base_url, common, tmp_path / "out1")
    # Each patient's DetectedIssue is tried 5 times (the client's budget) and its Flag and
    # CarePlan wait for it; after three such failures in a row (patients 92, 94, 95) the rest
    # of the run (patient 96) is queued untried: 3 x 5 = 15 requests, not 4 x 5.
    assert len([1 for m, _, _ in proxy.log if m == "POST"]) == 3 * 5
    assert first["outbox"] == {"pending": 12}
    assert first["written"] == {t: {"pending": 4} for t in TYPES}
    assert first["write_errors"][-3]["error"] == (
        "not tried: 3 transient failures in a row in this run"
    )
    assert on_server(fhir_base_url) == {}
