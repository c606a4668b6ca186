"""Pure: evaluate one patient from resources in hand (a CDS Hooks prefetch, draft orders),
without the store: the same mappers and rules as a run, so a card and a finding agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from fhirbridge.analysis import AnalysisParams, PatientAnalysis, analyze_patient
from fhirbridge.mappers import MappingContext
from fhirbridge.mappers.patient_records import to_patient_records
from fhirbridge.records import Prescriber

DRAFT_PREFIX = "draft-"


def bundle_resources(value: Any) -> list[dict[str, Any]]:
    """Resources of a prefetch value: a Bundle's entries, or a single resource; else nothing."""
    if not isinstance(value, Mapping):
        return []
    if value.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in value.get("entry") or ()
            if isinstance(e, Mapping) and isinstance(e.get("resource"), dict)
        ]
    return [dict(value)] if isinstance(value.get("resourceType"), str) else []


def as_signed(draft: Mapping[str, Any], index: int, as_of: date) -> dict[str, Any]:
    """A draft MedicationRequest as if signed today: active, authored on `as_of`.

    order-sign asks what happens if this order is signed (CDS Hooks order-sign), so the draft
    joins the patient's orders as an active one. A draft without an id gets `draft-<n>`.
    """
    order = dict(draft)
    order["status"] = "active"
    order["intent"] = "order"
    order.setdefault("id", f"{DRAFT_PREFIX}{index}")
    order.setdefault("authoredOn", as_of.isoformat())
    return order


def evaluate(
    patient: str,
    resources: Iterable[Mapping[str, Any]],
    *,
    ctx: MappingContext,
    as_of: date,
    params: AnalysisParams,
    prescribers: Mapping[str, Prescriber] | None = None,
) -> PatientAnalysis:
    """Every enabled rule over the given resources of one patient."""
    records, _skips = to_patient_records(patient, list(resources), ctx, prescribers)
    return analyze_patient(records, as_of=as_of, params=params)
