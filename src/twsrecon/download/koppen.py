"""Beck et al. Köppen–Geiger GeoTIFF out of the figshare zip."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from ..data.io.netcdf import atomic_output

log = logging.getLogger(__name__)

BECK_V1_URL = "https://figshare.com/ndownloader/files/12407516"  # Beck_KG_V1.zip (Beck et al. 2018)


def koppen_member(names, resolution: str = "0p5", member: str | None = None) -> str:
    """The archive member holding the present-day map at `resolution` ('0p5', '0p083', '0p0083').

    With `member` given, that one. Otherwise the GeoTIFF named `..._<resolution>.tif` that is not a
    confidence map (`conf`), preferring the present-day one over future scenarios.
    """
    if member is not None:
        if member not in names:
            raise ValueError(f"member '{member}' not in the archive (it holds: {', '.join(sorted(names))})")
        return member
    tifs = [n for n in names if PurePosixPath(n).name.lower().endswith(f"_{resolution.lower()}.tif")
            and "conf" not in PurePosixPath(n).name.lower()]
    present = [n for n in tifs if "present" in n.lower()]
    pick = present if len(present) == 1 else tifs
    if len(pick) != 1:
        raise ValueError(f"{'no' if not pick else 'more than one'} GeoTIFF at resolution {resolution} in the "
                         f"archive ({', '.join(sorted(pick or names))}): set inputs.koppen.member")
    return pick[0]


def extract_koppen(archive, dest, resolution: str = "0p5", member: str | None = None) -> str:
    """Copy the chosen GeoTIFF out of the zip to `dest` (atomically); returns the member name."""
    if not zipfile.is_zipfile(archive):
        with open(archive, "rb") as f:
            magic = f.read(4)
        if magic not in (b"II*\x00", b"MM\x00*"):
            raise ValueError(f"{archive}: neither a zip archive nor a GeoTIFF")
        with atomic_output(dest, suffix=".tif") as tmp:
            shutil.copyfile(archive, tmp)  # the URL pointed at the GeoTIFF itself
        return Path(archive).name
    with zipfile.ZipFile(archive) as z:
        name = koppen_member(z.namelist(), resolution, member)
        with z.open(name) as src, atomic_output(dest, suffix=".tif") as tmp, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
    log.info("extracted %s from %s to %s", name, archive, dest)
    return name
