"""Pure: `refill-overdue`, supply ran out with the order still active and no later fill.

Per adherence group (CONTRACT.md): the group's supply, each product on its dispenses or else its
orders and carried over as for PDC, last covered some day L. When the days from L + 1 through
as_of exceed the grace period (default 7, MOUD 3: RefillParams), an order of the group is still
`active` and nothing was filled since, the refill is overdue. One finding per group, implicating
the active orders. A switch inside the group (escitalopram stopped, sertraline filled) is not a
lapse: the group's last covered day is the later drug's.

On order data alone (no dispenses), authorized refills may have been picked up at the pharmacy
without a trace, so an order counts as supplied through all its refills (CMS
CumulativeMedicationDuration's projection, clinical-anchors.md 2.2): the finding then means the
authorization ran out, the best order data can show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fhirbridge.adherence.coverage import chain_end, select_fills
from fhirbridge.adherence.params import RefillParams
from fhirbridge.adherence.rules import GROUP_LABELS
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.records import ORDER, STATEMENT, MedicationEvent, PatientRecords

RULE = "refill-overdue"
AUTHORITY = (
    "Supply ran out while the order is active (CONTRACT.md refill-overdue); grace period "
    "configurable, shorter for MOUD because HEDIS POD counts an 8-day gap as discontinuation"
)


def last_covered(events: Sequence[MedicationEvent]) -> tuple[int, list[str]] | None:
    """The last covered day (ordinal) of the products in `events`, and the fills behind it."""
    by_drug: dict[tuple[str, ...], list[MedicationEvent]] = {}
    for event in events:
        by_drug.setdefault(event.drug.ingredients or (event.drug.display,), []).append(event)
    last, refs = -1, []
    for product in by_drug.values():
        fills, basis = select_fills(product)
        supplies = [
            (
                f.start.toordinal(),
                f.days_supply * (1 + (f.refills or 0)) if basis == "order" else f.days_supply,
                f.drug.ingredients or (f.drug.display,),
                f.ref,
            )
            for f in fills
            if f.days_supply
        ]
        found = chain_end(supplies)  # each product is its own carry-over chain
        if found is None:
            continue
        end, ref = found
        if end > last:
            last, refs = end, [ref]
        elif end == last:
            refs.append(ref)
    return (last, refs) if last >= 0 else None


def assess_refill_overdue(
    records: PatientRecords, *, as_of: date, params: RefillParams | None = None
) -> list[Finding]:
    """A finding per adherence group whose supply ran out more than the grace period ago."""
    params = params or RefillParams()
    by_group: dict[str, list[MedicationEvent]] = {}
    for event in records.events:
        if event.kind is not STATEMENT and event.start <= as_of:
            for group in event.drug.groups:
                by_group.setdefault(group, []).append(event)
    findings = []
    for group, events in sorted(by_group.items()):
        found = last_covered(events)
        if found is None:
            continue
        last, refs = found
        uncovered = as_of.toordinal() - last  # days L+1 .. as_of without supply
        grace = params.grace_days_by_group.get(group, params.grace_days)
        if uncovered <= grace or uncovered > params.lookback_days:
            continue
        active = sorted(e.ref for e in events if e.kind is ORDER and e.status == "active")
        if not active:
            continue  # every order ended: a stopped therapy, not a missed refill
        findings.append(
            _finding(records, group, (last, uncovered, grace), active, refs, params, as_of)
        )
    return findings


def _finding(
    records: PatientRecords,
    group: str,
    lapse: tuple[int, int, int],
    active: list[str],
    refs: list[str],
    params: RefillParams,
    as_of: date,
) -> Finding:
    last, uncovered, grace = lapse  # last covered ordinal, days without supply, grace days
    label = GROUP_LABELS.get(group, group)
    out = date.fromordinal(last + 1)
    behind = {*refs, *active}
    drugs = sorted(
        {i for e in records.events if e.ref in behind for i in e.drug.ingredients} - {"naloxone"}
    )
    return Finding(
        rule=RULE,
        category=Category.ADHERENCE,
        severity=params.severity_by_group.get(group, Severity.MODERATE),
        patient=records.patient,
        summary=f"{label} refill overdue: no supply since {out.isoformat()} ({uncovered} days)",
        detail=(
            f"The last supply of **{', '.join(drugs) or label.lower()}** ran out on "
            f"{date.fromordinal(last).isoformat()}; {uncovered} days without supply through "
            f"{as_of.isoformat()} exceed the {grace}-day grace period, the order "
            f"({', '.join(active)}) is still active, and nothing was filled since.\n\n"
            "Suggested step: contact the patient about the missed refill (cost, access, side "
            "effects, a stop they did not report) and tell the prescriber."
        ),
        implicated=tuple(active),
        prescribers=records.prescribers_of(active),
        authority=AUTHORITY,
        as_of=as_of,
    )
