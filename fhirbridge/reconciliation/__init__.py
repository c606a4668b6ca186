"""Reconciliation: pure cross-prescriber safety and coordination rules. No I/O, no clock."""

from fhirbridge.reconciliation.discrepancy import (
    DiscrepancyParams,
    assess_medication_list_discrepancy,
)
from fhirbridge.reconciliation.duplicates import DuplicateParams, assess_duplicate_therapy
from fhirbridge.reconciliation.methadone_qt import MethadoneQtParams, assess_methadone_qt
from fhirbridge.reconciliation.naloxone import NaloxoneParams, assess_naloxone_missing
from fhirbridge.reconciliation.naltrexone import NaltrexoneParams, assess_naltrexone_opioid
from fhirbridge.reconciliation.opioid_benzodiazepine import (
    OpioidBenzoParams,
    assess_opioid_benzodiazepine,
)
from fhirbridge.reconciliation.oud_untreated import OudUntreatedParams, assess_oud_untreated
from fhirbridge.reconciliation.params import RULE_PARAMS, build_params, params_schema
from fhirbridge.reconciliation.prescribers import (
    MultiplePrescribersParams,
    assess_multiple_prescribers,
)
from fhirbridge.reconciliation.sedatives import (
    SedativeParams,
    assess_opioid_gabapentinoid,
    assess_opioid_sedative_hypnotic,
)
from fhirbridge.reconciliation.serotonergic import (
    MaoiParams,
    SerotonergicOpioidParams,
    assess_serotonergic_maoi,
    assess_serotonergic_opioid,
)
from fhirbridge.reconciliation.suppression import (
    Acknowledgement,
    SuppressionParams,
    split_suppressed,
)

__all__ = [
    "RULE_PARAMS",
    "Acknowledgement",
    "DiscrepancyParams",
    "DuplicateParams",
    "MaoiParams",
    "MethadoneQtParams",
    "MultiplePrescribersParams",
    "NaloxoneParams",
    "NaltrexoneParams",
    "OpioidBenzoParams",
    "OudUntreatedParams",
    "SedativeParams",
    "SerotonergicOpioidParams",
    "SuppressionParams",
    "assess_duplicate_therapy",
    "assess_medication_list_discrepancy",
    "assess_methadone_qt",
    "assess_multiple_prescribers",
    "assess_naloxone_missing",
    "assess_naltrexone_opioid",
    "assess_opioid_benzodiazepine",
    "assess_opioid_gabapentinoid",
    "assess_opioid_sedative_hypnotic",
    "assess_oud_untreated",
    "assess_serotonergic_maoi",
    "assess_serotonergic_opioid",
    "build_params",
    "params_schema",
    "split_suppressed",
]
