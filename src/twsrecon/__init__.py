"""Reconstruction and gap filling of GRACE terrestrial water storage anomalies (TWSA)."""

__version__ = "0.1.0"
