"""Readers of the providers' own file layouts and writers of our CF outputs."""

from .netcdf import atomic_output, open_input, write_netcdf  # noqa: F401
from .tables import read_csv, read_json, write_csv, write_json  # noqa: F401
