"""Aridity index P/PET and the aridity classes of Mo et al. (2022), from the cube or a user's map.

PET by default comes from Priestley & Taylor (1972) as implemented by `pyet` (a maintained PET library),
driven by the cube's radiation, temperature and humidity: it stays positive wherever the sun delivers net
radiation, so cold cells get a finite P/PET. Oudin et al. (2005), temperature and latitude only, is an
option; it is 0 below -5 degC, which makes P/PET infinite and cold deserts "humid". Penman–Monteith needs
wind, which the cube lacks: a user who wants the CGIAR Global-AI (Penman–Monteith) classes gives its map.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

# Upper bounds of the classes (UNEP): HA < 0.05 <= A < 0.2 <= SA < 0.5 <= SH < 0.65 <= H
CLASS_BOUNDS = (0.05, 0.2, 0.5, 0.65)
CLASSES = ("HA", "A", "SA", "SH", "H")
CLASS_LONG = {"HA": "hyper-arid", "A": "arid", "SA": "semi-arid", "SH": "dry sub-humid", "H": "humid"}


def oudin_pet(tmp_k: xr.DataArray) -> xr.DataArray:
    """Monthly PET totals (mm per month) from monthly mean 2 m temperature (K) on a lat/lon grid."""
    import pyet

    start = pd.DatetimeIndex(tmp_k["time"].values)
    mid = start + pd.Timedelta(days=14)  # radiation of the month's middle, not its first day
    t = (tmp_k - 273.15).assign_coords(time=mid)
    rate = pyet.oudin(t, np.deg2rad(tmp_k["lat"]))  # mm/day
    return rate.assign_coords(time=start) * xr.DataArray(start.days_in_month.to_numpy(), dims="time",
                                                         coords={"time": start})


ALBEDO = 0.23  # FAO-56 reference surface: the cube's net shortwave back to global radiation


def priestley_taylor_pet(tmp_k: xr.DataArray, rad: xr.DataArray, rh: xr.DataArray) -> xr.DataArray:
    """Monthly PET totals (mm per month): Priestley–Taylor from the cube's monthly mean temperature (K),
    monthly net shortwave total (J m-2) and relative humidity (%), net longwave from FAO-56 (pyet)."""
    import pyet

    start = pd.DatetimeIndex(tmp_k["time"].values)
    mid = start + pd.Timedelta(days=14)
    days = xr.DataArray(start.days_in_month.to_numpy(), dims="time", coords={"time": mid})
    rs = (rad.assign_coords(time=mid) / (1 - ALBEDO)) / days / 1e6  # MJ m-2 d-1 of global radiation
    rate = pyet.priestley_taylor((tmp_k - 273.15).assign_coords(time=mid), rs=rs, rh=rh.assign_coords(time=mid),
                                 elevation=0.0, lat=np.deg2rad(tmp_k["lat"]), albedo=ALBEDO)  # mm/day, >= 0
    return (rate * days).assign_coords(time=start)


PET_METHODS = {
    "priestley_taylor": "PET by Priestley & Taylor (1972) from the cube's rad, tmp and rh (pyet, FAO-56 net longwave)",
    "oudin": "PET by Oudin et al. (2005) from the cube's tmp and latitude (pyet; 0 below -5 degC)",
}


def aridity_index(pcp_m: xr.DataArray, pet: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Mean annual P, PET (mm/yr) and P/PET over the months where both are known.

    Where PET vanishes (Oudin below -5 degC) P/PET is +inf (humid), not unknown.
    """
    p = pcp_m * 1000.0
    ok = p.notnull() & pet.notnull()
    n_years = ok.sum("time") / 12.0
    p_yr = p.where(ok).sum("time") / n_years
    pet_yr = pet.where(ok).sum("time") / n_years
    with np.errstate(divide="ignore", invalid="ignore"):
        ai = xr.where(pet_yr > 0, p_yr / pet_yr, np.where(p_yr > 0, np.inf, np.nan)).where(n_years >= 1)
    return p_yr.where(n_years >= 1), pet_yr.where(n_years >= 1), ai


def classify(ai) -> np.ndarray:
    """Class index 0..4 (HA, A, SA, SH, H) per cell; -1 where the index is unknown."""
    ai = np.asarray(ai, float)
    return np.where(np.isnan(ai), -1, np.digitize(ai, CLASS_BOUNDS)).astype(np.int8)  # +inf: humid


def read_aridity_map(path, variable: str | None, scale: float, grid) -> xr.DataArray:
    """A user's aridity-index map (netCDF or GeoTIFF, e.g. Global-AI v3 with scale 1e-4) on the grid."""
    from pathlib import Path

    from ..data.grid import regrid
    from ..data.io.netcdf import open_input, select_field

    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import rioxarray

        if not path.exists():
            raise InputError(path, "file does not exist")
        da = rioxarray.open_rasterio(path, masked=True).squeeze("band", drop=True)
        da = da.rename(y="lat", x="lon").drop_vars("spatial_ref", errors="ignore")
    else:
        da = select_field(open_input(path), path, variable, 2, "evaluation.aridity.variable")
    if set(da.dims) != {"lat", "lon"}:
        raise InputError(path, f"expected a 2-D lat/lon map, found dims {da.dims}", variable)
    ai = regrid(da.astype(np.float64) * scale, grid, path=path)
    if not np.isfinite(ai.values).any():
        raise InputError(path, "no valid aridity values on the analysis domain", variable)
    return ai


def aridity_dataset(coords: xr.Dataset, ai: xr.DataArray, p_yr=None, pet_yr=None, method: str = "") -> xr.Dataset:
    ds = coords.copy()
    common = {"grid_mapping": "crs"}
    ai = np.asarray(ai, np.float64)
    ds["aridity_index"] = (("lat", "lon"), np.where(np.isinf(ai), np.nan, ai).astype(np.float32), {
        **common, "units": "1", "long_name": "aridity index: mean annual precipitation / potential evapotranspiration",
        "comment": method + "; missing where PET is 0 (class humid)"})
    ds["aridity_class"] = (("lat", "lon"), classify(ai), {
        **common, "long_name": "aridity class (Mo et al. 2022; UNEP bounds 0.05, 0.2, 0.5, 0.65)",
        "flag_values": np.arange(-1, len(CLASSES), dtype=np.int8),
        "flag_meanings": "unknown " + " ".join(CLASS_LONG[c].replace(" ", "_").replace("-", "_") for c in CLASSES)})
    for name, value, long in (("pcp_annual", p_yr, "mean annual precipitation"),
                              ("pet_annual", pet_yr, "mean annual potential evapotranspiration")):
        if value is not None:
            ds[name] = (("lat", "lon"), np.asarray(value, np.float32), {**common, "units": "mm a-1", "long_name": long})
    ds.attrs["aridity_method"] = method  # the tables' readers see which PET (or map) made the classes
    return ds


def class_names(codes) -> np.ndarray:
    """Class labels for codes from `classify` ('' where unknown)."""
    labels = np.array(("",) + CLASSES, dtype=object)
    return labels[np.asarray(codes, int) + 1]


def aridity_of_cube(cube: xr.Dataset, settings: dict, grid) -> xr.Dataset:
    """The aridity index and classes of the cube's cells: P/PET from the cube's own fields where
    `settings["source"]` is a PET method, else the user's map (aridity.path) on the analysis `grid`,
    kept where the cube has GRACE data."""
    coords = cube[["lat_bnds", "lon_bnds", "crs"]].load().drop_attrs(deep=False)
    source = settings["source"]
    if source in PET_METHODS:
        tmp = cube["tmp"].load()
        pet = oudin_pet(tmp) if source == "oudin" else priestley_taylor_pet(tmp, cube["rad"].load(), cube["rh"].load())
        p_yr, pet_yr, ai = aridity_index(cube["pcp"].load(), pet)
        method = "P from the cube's pcp; " + PET_METHODS[source]
    else:
        ai = read_aridity_map(settings["path"], settings["variable"], settings["scale"], grid)
        ai = ai.where(cube["twsa"].notnull().any("time"))
        p_yr = pet_yr = None
        method = f"user map {settings['path']} x {settings['scale']}"
    return aridity_dataset(coords, ai, p_yr, pet_yr, method)
