"""Entrypoint: CDS Hooks feedback (CDS Hooks 2.0 "Feedback"): validate and store.

Each item names a card (whose uuid is the finding key), an outcome (accepted | overridden), and
for an override the reason Coding the clinician chose. Stored feedback is what alert-fatigue
suppression reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhirbridge.api.cards import finding_key_of
from fhirbridge.api.context import api
from fhirbridge.api.errors import ApiError
from fhirbridge.store.feedback import add_feedback

OUTCOMES = ("accepted", "overridden")


def record_feedback(service_id: str, items: Sequence[Any]) -> int:
    """Store every valid item; any invalid item rejects the whole request (400), nothing stored."""
    rows: list[dict[str, Any]] = []
    now = api().now()
    for index, item in enumerate(items):
        where = f"feedback[{index}]"
        if not isinstance(item, Mapping):
            raise ApiError(400, f"{where} must be an object")
        card, outcome = item.get("card"), item.get("outcome")
        if not isinstance(card, str) or not card:
            raise ApiError(400, f"{where}.card is required")
        if outcome not in OUTCOMES:
            raise ApiError(400, f"{where}.outcome must be accepted or overridden")
        timestamp = item.get("outcomeTimestamp")
        if not isinstance(timestamp, str) or not timestamp:
            raise ApiError(400, f"{where}.outcomeTimestamp is required")
        reason = None
        override = item.get("overrideReason")
        if outcome == "overridden" and isinstance(override, Mapping):
            coding = override.get("reason")
            if isinstance(coding, Mapping) and coding.get("code"):
                reason = f"{coding.get('system', '')}|{coding['code']}"
        accepted = item.get("acceptedSuggestions")
        suggestion_ids = (
            ",".join(str(s.get("id")) for s in accepted if isinstance(s, Mapping))
            if isinstance(accepted, list)
            else None
        )
        rows.append(
            {
                "service": service_id,
                "card": card[:64],
                "finding_key": finding_key_of(card),
                "outcome": outcome,
                "override_reason": reason,
                "accepted_suggestions": (suggestion_ids or None) and suggestion_ids[:2000],
                "outcome_timestamp": timestamp[:40],
                "received_at": now,
            }
        )
    add_feedback(api().services.store.engine, rows)
    return len(rows)
