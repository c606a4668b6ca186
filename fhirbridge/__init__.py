"""fhirbridge: medication adherence and cross-prescriber safety over FHIR R4."""

__version__ = "0.1.0"

__all__ = ["__version__"]
