"""Pure: `opioid-benzodiazepine`, overlapping supply of an opioid and a benzodiazepine.

Authorities (clinical-anchors.md 3):
- FDA Drug Safety Communication, 31 Aug 2016: boxed warnings; avoid prescribing opioid
  analgesics with benzodiazepines whenever possible. CDC 2022 guideline, recommendation 11.
- FDA Drug Safety Communication, 20 Sep 2017: buprenorphine and methadone should not be
  withheld from patients taking benzodiazepines; manage the combination carefully. So with MOUD
  the finding is moderate and its advice is coordination, never "stop the MOUD".

The engine is shared with the other opioid + CNS depressant rules (sedatives.py).
"""

from __future__ import annotations

from datetime import date

from fhirbridge.findings import Finding
from fhirbridge.reconciliation.sedatives import BENZODIAZEPINE, SedativeParams, assess_depressant
from fhirbridge.records import PatientRecords

RULE = BENZODIAZEPINE.rule
OpioidBenzoParams = SedativeParams  # [analysis.rules.opioid-benzodiazepine]: lookback_days


def assess_opioid_benzodiazepine(
    records: PatientRecords, *, as_of: date, params: SedativeParams | None = None
) -> list[Finding]:
    """One finding when opioid and benzodiazepine supply overlap within the lookback."""
    return assess_depressant(BENZODIAZEPINE, records, as_of=as_of, params=params)
