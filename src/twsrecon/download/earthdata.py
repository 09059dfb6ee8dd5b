"""The JPL GRACE/GRACE-FO mascon CRI grid from PO.DAAC, through NASA Earthdata (`earthaccess`).

`mascon_short_name`, `mascon_search` and `mascon_filename` are pure (unit-tested); `download_mascon`
logs in, searches the collection, picks the granule that reaches furthest and downloads its netCDF with
the package's resumable `fetch` over earthaccess's authenticated session, checked against the size and
checksum the granule's metadata publishes.
"""

from __future__ import annotations

import calendar
import logging
import re
from pathlib import Path

from .credentials import earthdata_credentials
from .http import fetch

log = logging.getLogger(__name__)

VERSION_PATTERN = r"^RL06\.[0-9]_V[0-9]+$"


def _parse(version: str) -> tuple[str, int]:
    m = re.fullmatch(r"(RL\d\d\.\d)_V(\d+)", version)
    if not m:
        raise ValueError(f"mascon version '{version}' not understood (expected e.g. RL06.3_V4)")
    return m.group(1), int(m.group(2))


def mascon_short_name(version: str = "RL06.3_V4") -> str:
    """PO.DAAC collection short name, e.g. TELLUS_GRAC-GRFO_MASCON_CRI_GRID_RL06.3_V4."""
    _parse(version)
    return f"TELLUS_GRAC-GRFO_MASCON_CRI_GRID_{version}"


def mascon_filename(version: str = "RL06.3_V4") -> str:
    """The local name of the downloaded file: JPL's pattern without the month span, e.g.
    GRCTellus.JPL.GLO.RL06.3M.MSCNv04CRI.nc (the span changes with every monthly update)."""
    release, v = _parse(version)
    return f"GRCTellus.JPL.GLO.{release}M.MSCNv{v:02d}CRI.nc"


def mascon_search(version: str, period: dict) -> dict:
    """Keyword arguments of `earthaccess.search_data` for the mascon granules overlapping `period`."""
    start, end = period["start"], period["end"]
    y, m = int(end[:4]), int(end[5:7])
    return {"short_name": mascon_short_name(version),
            "temporal": (f"{start}-01", f"{end}-{calendar.monthrange(y, m)[1]:02d}")}


def granule_file(granule_links) -> str | None:
    """The mascon netCDF among a granule's data links."""
    ncs = [u for u in granule_links if u.split("?")[0].endswith(".nc")]
    return ncs[0] if ncs else None


def _span_end(url: str) -> str:
    m = re.search(r"\.(\d{6})_(\d{6})\.", url)
    return m.group(2) if m else ""


def granule_size_and_checksum(umm: dict, filename: str):
    """(size in bytes, (algorithm, value)) that the granule's UMM metadata publishes for `filename`."""
    size = checksum = None
    for info in umm.get("DataGranule", {}).get("ArchiveAndDistributionInformation", []):
        if info.get("Name") not in (None, filename):
            continue
        if "SizeInBytes" in info:
            size = int(info["SizeInBytes"])
        c = info.get("Checksum") or {}
        algorithm = str(c.get("Algorithm", "")).lower().replace("-", "")
        if c.get("Value") and algorithm in ("md5", "sha256", "sha1", "sha512"):
            checksum = (algorithm, c["Value"])
    return size, checksum


def download_mascon(version: str, period: dict, dest, env=None, home=None, fetch_options=None) -> Path:
    strategy = earthdata_credentials(env, home)  # raises with where credentials go; nothing sent yet
    search = mascon_search(version, period)
    log.info("Earthdata login (strategy %s), search %s", strategy, search)
    import earthaccess

    auth = earthaccess.login(strategy=strategy)
    if not getattr(auth, "authenticated", False):
        raise RuntimeError(f"NASA Earthdata login failed (strategy {strategy}): check the credentials")
    granules = earthaccess.search_data(**search)
    files = [(g, granule_file(g.data_links(access="external"))) for g in granules]
    files = [(g, u) for g, u in files if u]
    if not files:
        raise RuntimeError(f"no mascon granule with a netCDF found for {search}")
    granule, url = max(files, key=lambda gu: _span_end(gu[1]))
    name = url.split("?")[0].rsplit("/", 1)[-1]
    size, checksum = granule_size_and_checksum(granule["umm"], name)
    log.info("mascon granule %s (%s bytes, checksum %s)", name, size, checksum[0] if checksum else "none published")
    return fetch(url, dest, session=earthaccess.get_requests_https_session(), expected_size=size,
                 checksum=checksum, **(fetch_options or {}))
