"""Pure: each rule's prerequisite, a cheap test on a summary of the patient's records.

A prerequisite holds whenever its rule could return a finding: a necessary condition read
from the rule's own code, never a sufficient one. analyze_patient skips a rule whose
prerequisite fails, which changes no result and saves the rule's work (e.g.
opioid-benzodiazepine for a patient on sertraline alone; bench/README.md). Equivalence with
running every rule is property-tested (tests/unit/test_rule_gating.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from itertools import combinations
from operator import attrgetter
from typing import TYPE_CHECKING

import orjson

from fhirbridge.adherence.codes import load_observation_codes
from fhirbridge.reconciliation.methadone_qt import LOINC
from fhirbridge.reconciliation.oud_untreated import is_oud
from fhirbridge.reconciliation.overlaps import MOUD_CLASSES, OPIOID_CLASSES
from fhirbridge.reconciliation.sedatives import (
    BENZODIAZEPINE,
    GABAPENTINOID,
    SEDATIVE_HYPNOTIC,
    DepressantRule,
)
from fhirbridge.records import (
    ORDER,
    STATEMENT,
    ConditionRecord,
    Drug,
    PatientRecords,
)
from fhirbridge.slotted import slot_builder

if TYPE_CHECKING:
    from fhirbridge.analysis import AnalysisParams


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleProfile:
    """What the rule prerequisites read: one patient's records summarised once, no dates.

    "Supply" is orders and dispenses (MedicationStatements report use, they are not supply:
    reconciliation/overlaps.py `supply`, and the adherence rules skip statements too).
    """

    supply_classes: frozenset[str]  # drug classes of orders and dispenses
    supply_ingredients: frozenset[str]  # ingredients of orders and dispenses
    supply_groups: frozenset[str]  # adherence groups of orders and dispenses
    statement_classes: frozenset[str]  # drug classes of MedicationStatements
    active_order_groups: frozenset[str]  # adherence groups of orders with status `active`
    # (class, product) of the supply, the product as duplicate-therapy keys it: ingredients
    # without naloxone, else the display text.
    class_products: frozenset[tuple[str, tuple[str, ...]]]
    # Ingredients of classified orders with a prescriber, status `stopped` / `active`.
    stopped_order_ingredients: frozenset[str]
    active_order_ingredients: frozenset[str]
    prescribers: int  # distinct prescriber refs on any event (orders, dispenses, statements)
    pharmacies: int  # distinct pharmacies on orders and dispenses
    observation_codes: frozenset[str]  # "system|code" of every observation
    condition_codes: frozenset[str]  # "system|code" of every condition


def rule_profile(records: PatientRecords) -> RuleProfile:
    """The patient's RuleProfile: one pass over the events, one over observations, conditions."""
    # Drugs by identity: the events of one product usually share a Drug object, so the class
    # sets are merged once per product, not once per fill.
    supply: dict[int, Drug] = {}
    statements: dict[int, Drug] = {}
    active_orders: dict[int, Drug] = {}
    stopped_prescribed: dict[int, Drug] = {}  # classified orders with a prescriber
    active_prescribed: dict[int, Drug] = {}
    prescribers: set[str] = set()
    pharmacies: set[str] = set()
    for event in records.events:
        drug = event.drug
        if event.prescriber:
            prescribers.add(event.prescriber)
        if event.kind is STATEMENT:
            statements[id(drug)] = drug
            continue
        supply[id(drug)] = drug
        if event.pharmacy:
            pharmacies.add(event.pharmacy)
        if event.kind is ORDER:
            if event.status == "active":
                active_orders[id(drug)] = drug
                if drug.ingredients and event.prescriber:
                    active_prescribed[id(drug)] = drug
            elif event.status == "stopped" and drug.ingredients and event.prescriber:
                stopped_prescribed[id(drug)] = drug
    drugs = supply.values()
    class_products = {
        (cls, tuple(i for i in d.ingredients if i != "naloxone") or (d.display,))
        for d in drugs
        for cls in d.classes
    }
    # frozenset().union(*parts): one call per field, not a generator per field.
    return RuleProfile(
        supply_classes=_EMPTY.union(*map(_CLASSES, drugs)),
        supply_ingredients=_EMPTY.union(*map(_INGREDIENTS, drugs)),
        supply_groups=_EMPTY.union(*map(_GROUPS, drugs)),
        statement_classes=_EMPTY.union(*map(_CLASSES, statements.values())),
        active_order_groups=_EMPTY.union(*map(_GROUPS, active_orders.values())),
        class_products=frozenset(class_products),
        stopped_order_ingredients=_EMPTY.union(*map(_INGREDIENTS, stopped_prescribed.values())),
        active_order_ingredients=_EMPTY.union(*map(_INGREDIENTS, active_prescribed.values())),
        prescribers=len(prescribers),
        pharmacies=len(pharmacies),
        observation_codes=_EMPTY.union(*map(_CODES, records.observations)),
        condition_codes=_EMPTY.union(*map(_CODES, records.conditions)),
    )


def profile_text(profile: RuleProfile) -> str:
    """The profile as JSON text, kept with the stored records (stored_mapping.py): it reads no
    dates, so it is worked out once when a patient is mapped, not on every analysis."""
    values = [getattr(profile, name) for name in _FIELDS]
    return orjson.dumps([sorted(v) if isinstance(v, frozenset) else v for v in values]).decode()


def profile_from_text(text: str) -> RuleProfile:
    """Inverse of `profile_text` (class products back to (class, ingredients) tuples)."""
    values = orjson.loads(text)
    out = [
        frozenset(v) if isinstance(v, list) and i != _PRODUCTS else v for i, v in enumerate(values)
    ]
    out[_PRODUCTS] = frozenset((cls, tuple(product)) for cls, product in values[_PRODUCTS])
    return _PROFILE(out)


_FIELDS = [f.name for f in fields(RuleProfile)]
_PRODUCTS = _FIELDS.index("class_products")
_PROFILE: Callable[[list[object]], RuleProfile] = slot_builder(RuleProfile)
_EMPTY: frozenset[str] = frozenset()
_CLASSES, _GROUPS = attrgetter("classes"), attrgetter("groups")
_INGREDIENTS, _CODES = attrgetter("ingredients"), attrgetter("codes")


Need = Callable[[RuleProfile, "AnalysisParams"], bool]


def _opioid_with(spec: DepressantRule) -> Need:
    # sedatives.py assess_depressant: `if not opioids or not partners: return []`, both taken
    # from supply (OPIOID_CLASSES, spec.partner_classes).
    def need(p: RuleProfile, _: AnalysisParams) -> bool:
        return bool(p.supply_classes & OPIOID_CLASSES and p.supply_classes & spec.partner_classes)

    return need


def _explained(p: RuleProfile, classes: Iterable[str], ingredients: Iterable[str]) -> bool:
    """Some supply has one of the classes or one of the ingredients."""
    return not p.supply_classes.isdisjoint(classes) or not p.supply_ingredients.isdisjoint(
        ingredients
    )


def _duplicates(p: RuleProfile, q: AnalysisParams) -> bool:
    # duplicates.py: per configured class, a pair of supplied products (keyed as in
    # class_products) sharing no ingredient, else `continue`; no pair, no finding.
    if len(p.class_products) < 2:  # no pair at all (most patients: one product per class)
        return False
    by_class: dict[str, list[tuple[str, ...]]] = {}
    for cls, key in p.class_products:
        by_class.setdefault(cls, []).append(key)
    configured = q.duplicate_therapy.classes
    return any(
        len(keys) > 1
        and cls in configured
        and any(set(a).isdisjoint(b) for a, b in combinations(keys, 2))
        for cls, keys in by_class.items()
    )


def _many_prescribers(p: RuleProfile, q: AnalysisParams) -> bool:
    # prescribers.py: controlled supply (params classes or ingredients) is counted; its
    # prescribers are events' own or their orders' (all among the events' prescribers) and its
    # pharmacies are supply's, so these totals bound the counts the thresholds compare.
    params = q.multiple_prescribers
    if not _explained(p, params.classes, params.ingredients):
        return False
    many_prescribers = p.prescribers >= params.min_prescribers
    many_pharmacies = p.pharmacies >= params.min_pharmacies
    if params.require_both:
        return many_prescribers and many_pharmacies
    return many_prescribers or many_pharmacies


def _discrepancy(p: RuleProfile, _: AnalysisParams) -> bool:
    # discrepancy.py: a finding is a statement whose classes are more than naloxone-rescue
    # (`not statement.drug.classes - {"naloxone-rescue"}` skips it), or a stopped and an
    # active classified order with prescribers sharing an ingredient (_stopped_but_active).
    return bool(
        p.statement_classes - {"naloxone-rescue"}
        or p.stopped_order_ingredients & p.active_order_ingredients
    )


def _oud_coded(p: RuleProfile, q: AnalysisParams) -> bool:
    # oud_untreated.py: `if not diagnoses: return []`, a diagnosis being is_oud. is_oud tests
    # each code on its own, so it holds for some condition only if it holds for all their codes.
    if not p.condition_codes:
        return False
    every_code = ConditionRecord(
        ref="",
        patient="",
        codes=p.condition_codes,
        clinical_status=None,
        verification_status=None,
        onset=None,
    )
    return is_oud(every_code, q.oud_untreated)


def _qtc(p: RuleProfile, q: AnalysisParams) -> bool:
    # methadone_qt.py: methadone supply (`if not methadone: return []`) and a QTc observation
    # with one of the configured LOINC codes (`if qtc is None: return []`).
    return "methadone" in p.supply_classes and any(
        f"{LOINC}|{code}" in p.observation_codes for code in q.methadone_qt.loinc_codes
    )


def _screened(p: RuleProfile, analytes: Iterable[str]) -> set[str]:
    """The configured analytes some observation's code screens for (screens.py analyte_of)."""
    uds = load_observation_codes().uds  # the cached table the screen rules read
    wanted = set(analytes)
    return {uds[c][0] for c in p.observation_codes if c in uds and uds[c][0] in wanted}


def _uds_negative(p: RuleProfile, q: AnalysisParams) -> bool:
    # screens.py: a screen for a configured analyte (by_day) whose supply (supply_of: orders
    # and dispenses of the analyte's classes or ingredients) covers the day.
    analytes = load_observation_codes().analytes
    return any(
        _explained(p, analytes[name].classes, analytes[name].ingredients)
        for name in _screened(p, q.uds_unexpected_negative.analytes)
    )


def _phq9(score: Callable[[], str]) -> Need:
    # phq9.py: scores() keeps observations whose codes hold the PHQ-9 total (worsening) or
    # item 9 (suicidality) code; none, no finding.
    def need(p: RuleProfile, _: AnalysisParams) -> bool:
        return score() in p.observation_codes

    return need


# Rule id → prerequisite (every rule with a function in RULES): False only when the rule cannot
# return a finding for this patient, whatever the date. Comments name the rule's lines.
RULE_NEEDS: dict[str, Need] = {
    # refill.py: a group needs an order of it still `active` (`if not active: continue`).
    "refill-overdue": lambda p, q: bool(p.active_order_groups),
    # continuity.py: moud_intervals (non-statement events of the `moud` group) must not be empty.
    "moud-gap": lambda p, q: "moud" in p.supply_groups,
    "opioid-benzodiazepine": _opioid_with(BENZODIAZEPINE),
    "opioid-gabapentinoid": _opioid_with(GABAPENTINOID),
    "opioid-sedative-hypnotic": _opioid_with(SEDATIVE_HYPNOTIC),
    # naltrexone.py: `if not naltrexone or not opioid_events: return []`, both supply.
    "naltrexone-opioid": lambda p, q: bool(
        "naltrexone" in p.supply_classes and p.supply_classes & OPIOID_CLASSES
    ),
    # serotonergic.py: `if not maoi_events or not partner_events`, partners by the configured
    # classes or ingredients (_partners), all from supply.
    "serotonergic-maoi": lambda p, q: (
        "maoi" in p.supply_classes
        and _explained(
            p, q.serotonergic_maoi.partner_classes, q.serotonergic_maoi.partner_ingredients
        )
    ),
    # serotonergic.py: `if not opioid_events or not partner_events`, opioids by the configured
    # ingredients, partners by the configured classes or ingredients, all from supply.
    "serotonergic-opioid": lambda p, q: (
        not p.supply_ingredients.isdisjoint(q.serotonergic_opioid.opioids)
        and _explained(
            p, q.serotonergic_opioid.partner_classes, q.serotonergic_opioid.partner_ingredients
        )
    ),
    # naloxone.py: `if not on`, `on` being opioid or MOUD supply exposed in the lookback.
    "naloxone-missing": lambda p, q: bool(p.supply_classes & (OPIOID_CLASSES | MOUD_CLASSES)),
    "duplicate-therapy": _duplicates,
    "multiple-prescribers": _many_prescribers,
    "medication-list-discrepancy": _discrepancy,
    "oud-untreated": _oud_coded,
    "methadone-qt": _qtc,
    "uds-unexpected-negative": _uds_negative,
    # screens.py: a positive screen for a configured analyte (`name not in params.analytes`).
    "uds-unexpected-positive": lambda p, q: bool(_screened(p, q.uds_unexpected_positive.analytes)),
    "phq9-worsening": _phq9(lambda: load_observation_codes().phq9_total),
    "phq9-suicidality": _phq9(lambda: load_observation_codes().phq9_item9),
}
