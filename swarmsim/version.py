"""The package version, recorded in every run folder's provenance."""

__version__ = "0.1.0"
