"""The library's version, recorded in every heatmap's provenance."""

__version__ = "0.1.0"
