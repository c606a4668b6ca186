"""Pure: medication codings and text → ingredients, drug classes and adherence groups.

The table is `config/drug-classes.toml` (every code with its source). Lookup order: a known
RxNorm ingredient or product code; an integrator mapping (`system|code` → ingredients); then
ingredient and brand names found in the coding displays or the concept text, which is how
RxNorm product codes no table knows are normalised (multi-ingredient products split into their
ingredients). Then `[[formulations]]` may reclassify an ingredient by dose form (buprenorphine
for pain is an opioid analgesic, not MOUD). Results are cached by input, because a formulary
has hundreds of products and a store millions of events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fhirbridge.errors import ConfigError
from fhirbridge.mappers.datatypes import RXNORM, FhirJson, codings, concept_text
from fhirbridge.records import Drug
from fhirbridge.tomlfiles import read_toml

RESCUE = "naloxone-rescue"
# RxNorm names combinations "A 2 MG / B 0.5 MG"; strengths use "/" without spaces (MG/ACTUAT).
_COMBINATION = re.compile(r"\s/\s")

_TABLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["groups", "ingredients"],
    "properties": {
        "groups": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "ingredients": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["rxcui", "classes", "source"],
                "properties": {
                    "rxcui": {"type": "string", "pattern": "^[0-9]*$"},
                    "classes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "synonyms": {"type": "array", "items": {"type": "string"}},
                    "source": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
        "brands": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
            },
        },
        "formulations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["ingredient", "pattern", "classes", "groups", "source"],
                "properties": {
                    "ingredient": {"type": "string"},
                    "pattern": {"type": "string", "minLength": 1},
                    "unless": {"type": "array", "items": {"type": "string"}},
                    "classes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "source": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
        "products": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["ingredients", "source"],
                "properties": {
                    "ingredients": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "display": {"type": "string"},
                    "source": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
    },
}


def default_table_path() -> Path:
    """The drug class table shipped with fhirbridge (`config/drug-classes.toml`)."""
    return Path(str(resources.files("fhirbridge") / "config" / "drug-classes.toml"))


@dataclass(frozen=True, slots=True)
class _Ingredient:
    classes: frozenset[str]
    groups: frozenset[str] | None  # None: derive from [groups]


@dataclass(frozen=True, slots=True)
class _Formulation:
    """An ingredient reclassified when the product text matches (a dose form, a brand)."""

    ingredient: str
    pattern: re.Pattern[str]
    unless: frozenset[str]  # not when the product also has one of these (Bunavail: naloxone)
    use: _Ingredient


@dataclass(slots=True)
class Terminology:
    """Classifies medication concepts; build with `load_terminology`."""

    ingredients: dict[str, _Ingredient]
    by_code: dict[str, tuple[str, ...]]  # "system|code" → ingredient names
    class_groups: dict[str, frozenset[str]]  # drug class → adherence groups
    _pattern: re.Pattern[str]
    _synonyms: dict[str, tuple[str, ...]]  # lower-case name, synonym or brand → ingredients
    _formulations: tuple[_Formulation, ...] = ()
    _cache: dict[tuple[frozenset[str], str, bool], Drug] = field(default_factory=dict)

    def classify(self, concept: FhirJson | None) -> Drug:
        """A Drug for a CodeableConcept; unknown ingredients give `Drug.known == False`."""
        tokens = frozenset(
            f"{c.get('system', '')}|{c.get('code', '')}" for c in codings(concept) if c.get("code")
        )
        text = concept_text(concept)
        # Each string on its own: concept_text joins several codings' displays with " / ", and
        # "naloxone" + "Narcan 4 MG/ACTUAT Nasal Spray" (RxNorm + NDC) is one product, not two.
        combination = any(_COMBINATION.search(s) for s in _strings(concept))
        key = (tokens, text, combination)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        drug = self._classify(tokens, text, combination)
        if len(self._cache) < 100_000:
            self._cache[key] = drug
        return drug

    def _classify(self, tokens: frozenset[str], text: str, combination: bool) -> Drug:
        found: tuple[str, ...] = ()
        code: str | None = None
        for token in sorted(tokens):
            if token in self.by_code:
                found, code = self.by_code[token], token
                break
        if not found and text:
            found = tuple(
                dict.fromkeys(
                    name for m in self._pattern.findall(text) for name in self._synonyms[m.lower()]
                )
            )
        if code is None and tokens:
            code = sorted(tokens)[0]
        ingredients = tuple(sorted(set(found)))
        classes: set[str] = set()
        groups: set[str] = set()
        # A "/" in the text with naloxone the only known ingredient means a combination we do
        # not know (pentazocine / naloxone): not a rescue product (clinical-anchors.md 3.2).
        unknown_partner = combination and len(ingredients) == 1
        for name in ingredients:
            ingredient = self._formulation(name, ingredients, text)
            for cls in ingredient.classes:
                if cls == RESCUE and (len(ingredients) > 1 or unknown_partner):
                    continue
                classes.add(cls)
                if ingredient.groups is None:
                    groups.update(self.class_groups.get(cls, ()))
            if ingredient.groups is not None:
                groups.update(ingredient.groups)
        return Drug(
            ingredients=ingredients,
            classes=frozenset(classes),
            groups=frozenset(groups),
            code=code,
            display=text,
        )

    def _formulation(self, name: str, ingredients: tuple[str, ...], text: str) -> _Ingredient:
        """The ingredient's classes in this product: a matching formulation's, else its own."""
        for rule in self._formulations:
            if (
                rule.ingredient == name
                and not rule.unless & set(ingredients)
                and rule.pattern.search(text)
            ):
                return rule.use
        return self.ingredients[name]


def _strings(concept: FhirJson | None) -> list[str]:
    """The strings concept_text would join: `text`, else each coding display."""
    text = concept.get("text") if isinstance(concept, Mapping) else None
    if isinstance(text, str) and text.strip():
        return [text]
    return [str(c["display"]) for c in codings(concept) if isinstance(c.get("display"), str)]


def load_terminology(
    path: Path | None = None,
    *,
    local_codes: Mapping[str, Iterable[str]] | None = None,
    moud_includes_methadone: bool = False,
    origins: Mapping[str, tuple[str, str]] | None = None,
) -> Terminology:
    """Load and validate the drug class table.

    Args:
        path: the TOML table; default the shipped `config/drug-classes.toml`.
        local_codes: integrator mappings, `system|code` (NDC, local formulary) → ingredient names.
        moud_includes_methadone: count methadone in the `moud` adherence group.
        origins: `system|code` → (mapping file, path inside it), so an error in a mapping
            names the integrator's file (mappers/integrator.py), not the mappings in general.

    Raises:
        ConfigError: naming the file, the path inside it and the problem.
    """
    path = path or default_table_path()
    data = read_toml(path, _TABLE_SCHEMA)

    class_groups: dict[str, set[str]] = {}
    for group, classes in data["groups"].items():
        for cls in classes:
            class_groups.setdefault(cls, set()).add(group)
    if moud_includes_methadone:
        class_groups.setdefault("methadone", set()).add("moud")

    ingredients: dict[str, _Ingredient] = {}
    by_code: dict[str, tuple[str, ...]] = {}
    synonyms: dict[str, tuple[str, ...]] = {}
    for name, entry in data["ingredients"].items():
        groups = entry.get("groups")
        ingredients[name] = _Ingredient(
            classes=frozenset(entry["classes"]),
            groups=frozenset(groups) if groups is not None else None,
        )
        if entry["rxcui"]:
            by_code[f"{RXNORM}|{entry['rxcui']}"] = (name,)
        for alias in (name, *entry.get("synonyms", ())):
            synonyms[alias.lower()] = (name,)
    for brand, names in (data.get("brands") or {}).items():
        unknown = [i for i in names if i not in ingredients]
        if unknown:
            raise ConfigError(str(path), f"brands/{brand}", f"unknown ingredient {unknown[0]!r}")
        synonyms[brand.lower()] = tuple(sorted(names))
    formulations = tuple(
        _load_formulation(path, n, f, ingredients)
        for n, f in enumerate(data.get("formulations", ()))
    )
    for code, product in (data.get("products") or {}).items():
        unknown = [i for i in product["ingredients"] if i not in ingredients]
        if unknown:
            raise ConfigError(
                str(path), f"products/{code}/ingredients", f"unknown ingredient {unknown[0]!r}"
            )
        by_code[f"{RXNORM}|{code}"] = tuple(sorted(product["ingredients"]))
    for token, names in (local_codes or {}).items():
        names = tuple(sorted(names))
        unknown = [i for i in names if i not in ingredients]
        if unknown:
            file, where = (origins or {}).get(token, ("mappings", f"medications/{token}"))
            raise ConfigError(file, where, f"unknown ingredient {unknown[0]!r}")
        by_code[token] = names

    # Longest names first so "valproic acid" wins over a shorter alias inside it.
    alternation = "|".join(re.escape(s) for s in sorted(synonyms, key=len, reverse=True))
    return Terminology(
        ingredients=ingredients,
        by_code=by_code,
        class_groups={k: frozenset(v) for k, v in class_groups.items()},
        _pattern=re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE),
        _synonyms=synonyms,
        _formulations=formulations,
    )


def _load_formulation(
    path: Path, index: int, entry: Mapping[str, Any], ingredients: Mapping[str, _Ingredient]
) -> _Formulation:
    where = f"formulations/{index}"
    if entry["ingredient"] not in ingredients:
        raise ConfigError(str(path), f"{where}/ingredient", f"unknown {entry['ingredient']!r}")
    try:
        pattern = re.compile(entry["pattern"], re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(
            str(path), f"{where}/pattern", f"not a regular expression: {exc}"
        ) from None
    return _Formulation(
        ingredient=entry["ingredient"],
        pattern=pattern,
        unless=frozenset(entry.get("unless", ())),
        use=_Ingredient(classes=frozenset(entry["classes"]), groups=frozenset(entry["groups"])),
    )
