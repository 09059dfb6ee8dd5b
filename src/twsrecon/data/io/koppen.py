"""Köppen–Geiger maps: Beck et al. GeoTIFF (classes 1–30) and Kottek et al. 0.5° ASCII (text codes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import InputError
from ...regions.classes import BECK_CODES

# Kottek's 'As' (tropical savannah with dry summer) has no class of its own in Beck's legend.
KOTTEK_FOLD = {"As": "Aw"}


def read_beck_geotiff(path) -> xr.DataArray:
    import rioxarray  # noqa: F401  (registers the engine)

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    try:
        da = xr.open_dataarray(path, engine="rasterio", mask_and_scale=False)
        if "band" in da.dims:
            da = da.isel(band=0, drop=True)
        values = da.values
    except Exception as err:
        raise InputError(path, f"not a readable GeoTIFF (truncated or corrupt?): {err}") from err
    crs = da.rio.crs
    if crs is not None and crs.to_epsg() not in (4326, None):
        raise InputError(path, f"CRS {crs} is not geographic WGS84 (EPSG:4326)", "band 1")
    if values.min() < 0 or values.max() > 30:
        raise InputError(path, f"class values {values.min()}..{values.max()} outside Beck's 0 (ocean) and 1..30",
                         "band 1")
    da = da.rename({"x": "lon", "y": "lat"}).drop_vars([c for c in ("spatial_ref",) if c in da.coords])
    return da.astype(np.int16).rename("kg_class").sortby("lat")


def read_kottek_ascii(path, resolution: float = 0.5) -> xr.DataArray:
    """Kottek 'Lat Lon Cls' table, header line optional, to a global raster of Beck class numbers."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, names=["lat", "lon", "cls"], dtype=str, comment="#")
    except Exception as err:
        raise InputError(path, f"not a readable whitespace-separated table: {err}") from err
    if len(table) and not _is_number(table.iloc[0, 0]):
        table = table.iloc[1:]
    try:
        lat = table["lat"].astype(float).to_numpy()
        lon = table["lon"].astype(float).to_numpy()
    except ValueError as err:
        raise InputError(path, f"Lat/Lon columns are not numeric: {err}", "Lat/Lon") from err
    code_to_class = {code: i for i, code in BECK_CODES.items()}
    codes = table["cls"].map(lambda c: KOTTEK_FOLD.get(c, c))
    unknown = sorted(set(codes) - set(code_to_class))
    if unknown:
        raise InputError(path, f"unknown Köppen–Geiger codes {unknown}", "Cls")
    cls = codes.map(code_to_class).to_numpy(np.int16)
    lats = np.arange(-90 + resolution / 2, 90, resolution)
    lons = np.arange(-180 + resolution / 2, 180, resolution)
    i = np.rint((lat - lats[0]) / resolution).astype(int)
    j = np.rint((lon - lons[0]) / resolution).astype(int)
    if i.min() < 0 or i.max() >= len(lats) or j.min() < 0 or j.max() >= len(lons):
        raise InputError(path, f"coordinates are not on a global {resolution} deg grid", "Lat/Lon")
    grid = np.zeros((len(lats), len(lons)), np.int16)
    grid[i, j] = cls
    return xr.DataArray(grid, dims=("lat", "lon"), coords={"lat": lats, "lon": lons}, name="kg_class")


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def read_koppen(path, fmt: str) -> xr.DataArray:
    if fmt == "beck_geotiff":
        return read_beck_geotiff(path)
    if fmt == "kottek_ascii":
        return read_kottek_ascii(path)
    raise ValueError(f"unknown Köppen–Geiger format {fmt!r}")
