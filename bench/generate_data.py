"""Deterministic synthetic FHIR R4 NDJSON for the ingest benchmark (bench/ingest.py).

Writes a Bulk Data style file set: `MedicationRequest.ndjson`, `MedicationDispense.ndjson` (30% of
the resources each) and `Observation.ndjson` (40%), spread over `patients` synthetic patients. The
shapes follow fhirbridge/examples/data: RxNorm ingredient codings with the product as text,
dosageInstruction with timing, route and doseAndRate, dispenseRequest with expectedSupplyDuration,
daysSupply, timezone-offset dateTimes, LOINC Observations with valueQuantity (labs with
referenceRange, vitals, PHQ-9 and GAD-7 totals) or valueCodeableConcept (urine drug screens).
Refill gaps vary by patient, so adherence varies. Same seed and size give byte-identical files.

    python bench/generate_data.py --n 100000 --out /tmp/bench-data
"""

from __future__ import annotations

import argparse
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import orjson

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
ID_SYSTEM = "urn:fhirbridge:bench"

Json = dict[str, Any]


class Product(NamedTuple):
    code: str  # RxNorm ingredient (or MIN) code, as in fhirbridge/examples
    display: str
    text: str  # the dispensed product
    unit: str  # UCUM annotation for the dose form
    dose: int  # units per administration
    per_day: int  # administrations per day
    route: tuple[str, str]
    days: int  # days supply per fill


ORAL, SUBLINGUAL = ("26643006", "Oral route"), ("37839007", "Sublingual route")
FORMULARY = (
    Product("36437", "sertraline", "Sertraline 50 MG Oral Tablet", "{tbl}", 1, 1, ORAL, 30),
    Product("36437", "sertraline", "Sertraline 100 MG Oral Tablet", "{tbl}", 1, 1, ORAL, 90),
    Product("321988", "escitalopram", "Escitalopram 10 MG Oral Tablet", "{tbl}", 1, 1, ORAL, 30),
    Product("4493", "fluoxetine", "Fluoxetine 20 MG Oral Capsule", "{cap}", 1, 1, ORAL, 30),
    Product("2556", "citalopram", "Citalopram 20 MG Oral Tablet", "{tbl}", 1, 1, ORAL, 30),
    Product(
        "39786",
        "venlafaxine",
        "24 HR Venlafaxine 75 MG Extended Release Oral Capsule",
        "{cap}",
        1,
        1,
        ORAL,
        30,
    ),
    Product("89013", "aripiprazole", "Aripiprazole 10 MG Oral Tablet", "{tbl}", 1, 1, ORAL, 30),
    Product("61381", "olanzapine", "Olanzapine 10 MG Oral Tablet", "{tbl}", 1, 1, ORAL, 30),
    Product("28439", "lamotrigine", "Lamotrigine 100 MG Oral Tablet", "{tbl}", 1, 2, ORAL, 30),
    Product(
        "352364",
        "buprenorphine / naloxone",
        "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film",
        "{film}",
        2,
        1,
        SUBLINGUAL,
        28,
    ),
    Product(
        "1819",
        "buprenorphine",
        "Buprenorphine 8 MG Sublingual Tablet",
        "{tbl}",
        1,
        2,
        SUBLINGUAL,
        14,
    ),
    Product(
        "7804", "oxycodone", "Oxycodone Hydrochloride 5 MG Oral Tablet", "{tbl}", 1, 4, ORAL, 7
    ),
    Product(
        "10689", "tramadol", "Tramadol Hydrochloride 50 MG Oral Tablet", "{tbl}", 1, 3, ORAL, 10
    ),
    Product("3322", "diazepam", "Diazepam 5 MG Oral Tablet", "{tbl}", 1, 2, ORAL, 15),
)
# (LOINC, display, category, unit, low, high, decimals); unit None: a urine drug screen.
TESTS: tuple[tuple[str, str, str, str | None, float, float, int], ...] = (
    ("93494-3", "Buprenorphine [Presence] in Urine by Screen method", "laboratory", None, 0, 0, 0),
    (
        "14316-4",
        "Benzodiazepines [Presence] in Urine by Screen method",
        "laboratory",
        None,
        0,
        0,
        0,
    ),
    ("19295-5", "Opiates [Presence] in Urine by Screen method", "laboratory", None, 0, 0, 0),
    ("59673-4", "fentaNYL [Presence] in Urine by Screen method", "laboratory", None, 0, 0, 0),
    (
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        "survey",
        "{score}",
        0,
        27,
        0,
    ),
    (
        "70274-6",
        "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
        "survey",
        "{score}",
        0,
        21,
        0,
    ),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 0.6, 1.4, 2),
    (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "laboratory",
        "U/L",
        7,
        56,
        0,
    ),
    ("8867-4", "Heart rate", "vital-signs", "/min", 55, 105, 0),
    ("8636-3", "Q-T interval corrected", "procedure", "ms", 380, 480, 0),
)
REFERENCE_RANGE = {"2160-0": (0.7, 1.3), "1742-6": (7.0, 56.0)}
PROFILE = {
    "laboratory": "us-core-observation-lab",
    "survey": "us-core-observation-screening-assessment",
    "vital-signs": "us-core-vital-signs",
    "procedure": "us-core-observation-clinical-result",
}
OFFSETS = ("-05:00", "-06:00", "-07:00", "-08:00", "-04:00")
START = date(2025, 1, 6)


def _concept(system: str, code: str, display: str, text: str | None = None) -> Json:
    concept: Json = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def _quantity(value: float, unit: str, code: str | None = None) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def _meta(rng: random.Random, day: date, profile: str) -> Json:
    updated = day + timedelta(days=rng.randint(1, 3))
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    return {
        "versionId": str(rng.randint(1, 3)),
        "lastUpdated": f"{updated}T{clock}.{rng.randint(0, 999):03d}Z",
        "profile": [US_CORE + profile],
    }


def _dosage(p: Product) -> list[Json]:
    how = "under the tongue" if p.route is SUBLINGUAL else "by mouth"
    return [
        {
            "sequence": 1,
            "text": f"Take {p.dose} {p.unit.strip('{}')} {how} {p.per_day} time(s) daily",
            "timing": {"repeat": {"frequency": p.per_day, "period": 1, "periodUnit": "d"}},
            "asNeededBoolean": False,
            "route": _concept(SNOMED, *p.route),
            "doseAndRate": [
                {
                    "type": _concept(TERMINOLOGY + "dose-rate-type", "ordered", "Ordered"),
                    "doseQuantity": _quantity(p.dose, p.unit.strip("{}"), p.unit),
                }
            ],
        }
    ]


def medication_pair(
    rng: random.Random,
    k: int,
    patient: int,
    p: Product,
    day: date,
    tz: str,
    first: bool,
    last: bool,
) -> tuple[Json, Json]:
    """One order and the dispense it authorized (a new order per fill, as for controlled drugs)."""
    subject = {"reference": f"Patient/bench-pt-{patient:05d}"}
    drug = _concept(RXNORM, p.code, p.display, p.text)
    units = p.dose * p.per_day * p.days
    order_id, fill_id = f"bench-mr-{k:07d}", f"bench-md-{k:07d}"
    prescriber = 1 + (patient * 7 + (p.code in {"352364", "1819"})) % 40
    order: Json = {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "meta": _meta(rng, day, "us-core-medicationrequest"),
        "identifier": [{"system": ID_SYSTEM + ":order", "value": order_id}],
        "status": "active" if last else "completed",
        "intent": "order",
        "category": [
            _concept(TERMINOLOGY + "medicationrequest-category", "community", "Community")
        ],
        "medicationCodeableConcept": drug,
        "subject": subject,
        "encounter": {"reference": f"Encounter/bench-enc-{k:07d}"},
        "authoredOn": f"{day}T{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}:00{tz}",
        "requester": {
            "reference": f"Practitioner/bench-prac-{prescriber:03d}",
            "display": f"Prescriber {prescriber:03d}",
        },
        "dosageInstruction": _dosage(p),
        "dispenseRequest": {
            "validityPeriod": {"start": str(day), "end": str(day + timedelta(days=365))},
            "numberOfRepeatsAllowed": 0,
            "quantity": _quantity(units, p.unit.strip("{}"), p.unit),
            "expectedSupplyDuration": _quantity(p.days, "days", "d"),
        },
        "substitution": {"allowedBoolean": True},
    }
    handed = day + timedelta(days=rng.choice((0, 0, 0, 1, 2, 5)))
    hour = rng.randint(9, 19)
    fill: Json = {
        "resourceType": "MedicationDispense",
        "id": fill_id,
        "meta": _meta(rng, handed, "us-core-medicationdispense"),
        "identifier": [{"system": ID_SYSTEM + ":dispense", "value": fill_id}],
        "status": "completed",
        "medicationCodeableConcept": drug,
        "subject": subject,
        "performer": [
            {
                "actor": {
                    "reference": f"Organization/bench-pharm-{patient % 25:02d}",
                    "display": f"Pharmacy {patient % 25:02d}",
                }
            }
        ],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{order_id}"}],
        "type": _concept(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            *(("FF", "First Fill") if first else ("RF", "Refill")),
        ),
        "quantity": _quantity(units, p.unit.strip("{}"), p.unit),
        "daysSupply": _quantity(p.days, "days", "d"),
        "whenPrepared": f"{handed}T{hour - 1:02d}:{rng.randint(0, 59):02d}:00{tz}",
        "whenHandedOver": f"{handed}T{hour:02d}:{rng.randint(0, 59):02d}:00{tz}",
        "dosageInstruction": _dosage(p),
    }
    return order, fill


def observation(rng: random.Random, k: int, patient: int, day: date, tz: str) -> Json:
    code, display, category, unit, low, high, decimals = rng.choice(TESTS)
    when = f"{day}T{rng.randint(7, 16):02d}:{rng.randint(0, 59):02d}:00{tz}"
    obs: Json = {
        "resourceType": "Observation",
        "id": f"bench-obs-{k:07d}",
        "meta": _meta(rng, day, PROFILE[category]),
        "identifier": [{"system": ID_SYSTEM + ":observation", "value": f"bench-obs-{k:07d}"}],
        "status": "final",
        "category": [
            _concept(
                TERMINOLOGY + "observation-category", category, category.replace("-", " ").title()
            )
        ],
        "code": _concept(LOINC, code, display, display),
        "subject": {"reference": f"Patient/bench-pt-{patient:05d}"},
        "encounter": {"reference": f"Encounter/bench-enc-o{k:07d}"},
        "effectiveDateTime": when,
        "issued": f"{day}T{rng.randint(17, 22):02d}:00:00.000{tz}",
    }
    if unit is None:
        positive = rng.random() < 0.3
        obs["valueCodeableConcept"] = _concept(
            SNOMED, *(("260373001", "Detected") if positive else ("260415000", "Not detected"))
        )
        obs["interpretation"] = [
            _concept(
                TERMINOLOGY + "v3-ObservationInterpretation",
                *(("POS", "Positive") if positive else ("NEG", "Negative")),
            )
        ]
        return obs
    value = round(rng.uniform(low, high), decimals)
    obs["valueQuantity"] = _quantity(int(value) if decimals == 0 else value, unit)
    if code in REFERENCE_RANGE:
        lo, hi = REFERENCE_RANGE[code]
        obs["referenceRange"] = [{"low": _quantity(lo, unit), "high": _quantity(hi, unit)}]
    return obs


def generate(out: Path, n: int = 100_000, patients: int = 5_000, seed: int = 20261127) -> Path:
    """Write `n` resources as NDJSON files under `out` (created); returns `out`."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    pairs = (n * 3) // 10
    n_obs = n - 2 * pairs
    # Per patient: a timezone, 1-3 products, an adherence profile (longer refill gaps for some).
    tz = [rng.choice(OFFSETS) for _ in range(patients)]
    drugs = [rng.sample(FORMULARY, rng.choice((1, 1, 2, 2, 3))) for _ in range(patients)]
    lateness = [rng.choice((0, 0, 2, 5, 12)) for _ in range(patients)]
    next_fill = {
        (pt, i): START + timedelta(days=rng.randint(0, 90))
        for pt in range(patients)
        for i in range(len(drugs[pt]))
    }
    with (
        (out / "MedicationRequest.ndjson").open("wb") as orders,
        (out / "MedicationDispense.ndjson").open("wb") as fills,
    ):
        for k in range(pairs):
            pt = k % patients
            i = (k // patients) % len(drugs[pt])
            product, day = drugs[pt][i], next_fill[(pt, i)]
            order, fill = medication_pair(
                rng, k, pt, product, day, tz[pt], k < patients, k >= pairs - patients
            )
            orders.write(orjson.dumps(order) + b"\n")
            fills.write(orjson.dumps(fill) + b"\n")
            gap = rng.randint(0, lateness[pt] * 2) if lateness[pt] else rng.randint(-2, 1)
            next_fill[(pt, i)] = day + timedelta(days=product.days + gap)
    with (out / "Observation.ndjson").open("wb") as handle:
        for k in range(n_obs):
            pt = k % patients
            day = START + timedelta(days=rng.randint(0, 540))
            handle.write(orjson.dumps(observation(rng, k, pt, day, tz[pt])) + b"\n")
    return out


def validate_sample(out: Path, sample: int = 200, seed: int = 20261127) -> int:
    """Validate a seeded sample of the files under `out` with fhir.resources R4B; the count.

    Raises:
        pydantic.ValidationError: a sampled resource is not valid FHIR R4.
    """
    from fhir.resources.R4B import get_fhir_model_class

    lines = [line for f in sorted(out.glob("*.ndjson")) for line in f.read_bytes().splitlines()]
    chosen = random.Random(seed).sample(lines, min(sample, len(lines)))
    for line in chosen:
        resource = orjson.loads(line)
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="resources to write")
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--out", type=Path, required=True, help="directory for the NDJSON files")
    args = parser.parse_args()
    generate(args.out, args.n, args.patients, args.seed)
    print(f"wrote {args.n} resources to {args.out}; {validate_sample(args.out)} sampled valid")


if __name__ == "__main__":
    main()
