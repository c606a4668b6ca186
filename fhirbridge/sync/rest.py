"""Sync: pull what analysis needs from a FHIR REST server, patient by patient.

Patients first (or the ones asked for), then the practitioners and their roles (prescriber
roles), then each patient's clinical resources by `patient=` search, then the Medications that
orders reference but do not contain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from fhirbridge.mappers import relative_reference
from fhirbridge.sync.items import Received, SourceItem

log = logging.getLogger(__name__)

# Clinical types searched per patient. Condition and Encounter feed the OUD-treatment and
# inpatient-stay rules; PractitionerRole gives prescriber roles.
PATIENT_TYPES = (
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "Observation",
    "Condition",
    "Encounter",
)
DIRECTORY_TYPES = ("Practitioner", "PractitionerRole")
PAGE_SIZE = 200
_ID_CHUNK = 50  # ids per `_id=a,b,c` search: keeps URLs well under common 8 KB limits


class SearchClient(Protocol):
    base_url: str

    def search(
        self, resource_type: str, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]: ...


def pull(client: SearchClient, patients: Iterable[str] | None = None) -> Iterator[SourceItem]:
    """Every resource fhirbridge needs from the server, as source items.

    Args:
        patients: "Patient/<id>" or "<id>" values; default every Patient the server has.
    """
    if patients is None:
        patient_ids = []
        for resource in client.search("Patient", {"_count": PAGE_SIZE}):
            patient_ids.append(str(resource.get("id")))
            yield Received(resource=resource, raw=None, location="Patient")
    else:
        patient_ids = [p.split("/", 1)[-1] for p in patients]
        yield from _by_ids(client, "Patient", patient_ids)
    for rtype in DIRECTORY_TYPES:
        for resource in client.search(rtype, {"_count": PAGE_SIZE}):
            yield Received(resource=resource, raw=None, location=rtype)
    medications: set[str] = set()
    for count, patient_id in enumerate(patient_ids, start=1):
        for rtype in PATIENT_TYPES:
            for resource in client.search(rtype, {"patient": patient_id, "_count": PAGE_SIZE}):
                ref = relative_reference(resource.get("medicationReference"))
                if ref and ref.startswith("Medication/"):
                    medications.add(ref.split("/", 1)[1])
                yield Received(resource=resource, raw=None, location=rtype)
        if count % 100 == 0:
            log.info("pulled %d of %d patients", count, len(patient_ids))
    yield from _by_ids(client, "Medication", sorted(medications))


def _by_ids(client: SearchClient, rtype: str, ids: list[str]) -> Iterator[SourceItem]:
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        for resource in client.search(rtype, {"_id": ",".join(chunk), "_count": PAGE_SIZE}):
            yield Received(resource=resource, raw=None, location=rtype)
