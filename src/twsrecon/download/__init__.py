"""Fetching the real inputs: a robust HTTP downloader, the providers' request builders, credential checks.

Nothing here contacts a provider at import time; `cdsapi` and `earthaccess` are imported inside the
functions that use them (the `download` extra of the package), so the rest of the package runs without.
"""

from .http import DownloadError, fetch, redact_url

__all__ = ["DownloadError", "fetch", "redact_url"]
