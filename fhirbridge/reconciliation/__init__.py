"""Reconciliation: pure cross-prescriber safety and coordination rules. No I/O, no clock."""

from fhirbridge.reconciliation.opioid_benzodiazepine import (
    OpioidBenzoParams,
    assess_opioid_benzodiazepine,
)

__all__ = ["OpioidBenzoParams", "assess_opioid_benzodiazepine"]
