"""The demo world's files in the providers' own formats (`demo_world.generate` writes them all).

Files written (the formats of ../shared/formats/README.md):
- ERA5 monthly means, CDS 2024+ layout, 0.25 deg: ``era5/data_stream-moda_stepType-avgua.nc`` (t2m, d2m,
  sd) and ``..._stepType-avgad.nc`` (tp, ssr as mean daily totals, stamped 06:00);
- a JPL mascon CRI v04 file, 0.5 deg, GRACE months only (the real missing months and the 2017-07..2018-05
  gap, odd solution periods near it), lon 0..360, cm, with ``scale_factor`` and ``land_mask``. The
  written ``lwe_thickness`` is (truth + noise) / scale_factor, so applying the CRI scale factors, as
  the demo config does, restores truth + noise;
- a monthly SIF netCDF (0.5 deg, days since 1982-01-01, mid-month stamps); a few ice cells have no SIF;
- a Beck-style Köppen–Geiger GeoTIFF (0.25 deg, Byte, palette, 0 = ocean);
- the true TWSA for every month on the analysis grid (evaluation only, never an input of training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import gaussian_filter

from .demo import DemoSpec, class_at, is_ocean
from .io.netcdf import atomic_output

# The real JPL months_missing attribute (one solution spans Aug-Sep 2018: the malformed last token).
MONTHS_MISSING = (
    "2002-06;2002-07;2003-06;2011-01;2011-06;2012-05;2012-10;2013-03;2013-08;2013-09;2014-02;2014-07;"
    "2014-12;2015-06;2015-10;2015-11;2016-04;2016-09;2016-10;2017-02;2017-07;2017-08;2017-09;2017-10;"
    "2017-11;2017-12;2018-01;2018-02;2018-03;2018-04;2018-05;2018-08-2018-09"
)
# Solutions whose periods are not the calendar month (first day, last day included).
ODD_SOLUTIONS = {
    "2002-04": ("2002-04-04", "2002-05-01"),
    "2002-05": ("2002-05-02", "2002-05-31"),
    "2003-07": ("2003-07-03", "2003-07-31"),
    "2011-12": ("2011-11-16", "2011-12-30"),
    "2015-12": ("2015-12-04", "2016-01-05"),
    "2016-05": ("2016-04-19", "2016-05-31"),
    "2017-06": ("2017-05-22", "2017-06-29"),
    "2018-06": ("2018-06-14", "2018-07-07"),
    "2018-08": ("2018-08-12", "2018-09-21"),
}
GRACE_START, GRACE_END = "2002-04", "2021-12"


# --------------------------------------------------------------------------- writers in provider formats

def era5_grid(spec: DemoSpec):
    r = spec.fine_resolution
    lat = np.round(np.arange(spec.lat_max, spec.lat_min - r / 2, -r), 6)  # descending, points on multiples of r
    lon = np.round(np.arange(spec.lon_min, spec.lon_max + r / 2, r), 6)
    return lat, lon


def write_era5(path: Path, step_type: str, fields: dict, time: pd.DatetimeIndex, lat, lon) -> None:
    """One CDS 2024+ step-type file: valid_time (s since 1970), expver, number, latitude descending."""
    hour = 6 if step_type == "avgad" else 0
    valid = (time + pd.Timedelta(hours=hour)).to_numpy()
    seconds = ((valid - np.datetime64("1970-01-01")) / np.timedelta64(1, "s")).astype(np.int64)
    expver = np.where(time >= time[-3], "0005", "0001")
    meta = {
        "tp": ("Total precipitation", "m", 228, "fc"), "ssr": ("Surface net short-wave (solar) radiation",
                                                               "J m**-2", 176, "fc"),
        "t2m": ("2 metre temperature", "K", 167, "an"), "d2m": ("2 metre dewpoint temperature", "K", 168, "an"),
        "sd": ("Snow depth", "m of water equivalent", 141, "an"),
        "e": ("Evaporation", "m of water equivalent", 182, "fc"), "ro": ("Runoff", "m", 205, "fc"),
        **{f"swvl{i}": (f"Volumetric soil water layer {i}", "m**3 m**-3", 39 + i, "an") for i in range(1, 5)},
    }
    ds = xr.Dataset(coords={
        "number": ((), np.int64(0), {"long_name": "ensemble member numerical id", "units": "1",
                                     "standard_name": "realization"}),
        "valid_time": ("valid_time", seconds, {"long_name": "time", "standard_name": "time",
                                               "units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian"}),
        "latitude": ("latitude", lat, {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude",
                                       "stored_direction": "decreasing"}),
        "longitude": ("longitude", lon, {"units": "degrees_east", "standard_name": "longitude",
                                         "long_name": "longitude"}),
        "expver": ("valid_time", expver.astype(object)),
    })
    for var, arr in fields.items():
        name, units, pid, dtype = meta[var]
        ds[var] = (("valid_time", "latitude", "longitude"), arr.astype(np.float32), {
            "GRIB_paramId": np.int64(pid), "GRIB_dataType": dtype, "GRIB_stepType": step_type,
            "GRIB_gridType": "regular_ll", "GRIB_shortName": var, "GRIB_units": units, "GRIB_name": name,
            "long_name": name, "units": units, "standard_name": "unknown",
            "coordinates": "number valid_time latitude longitude expver"})
    ds.attrs = {"GRIB_centre": "ecmf", "GRIB_centreDescription": "European Centre for Medium-Range Weather Forecasts",
                "GRIB_subCentre": np.int64(0), "Conventions": "CF-1.7",
                "institution": "European Centre for Medium-Range Weather Forecasts",
                "history": "synthetic demo data in the layout of CDS netCDF (GRIB to CDM+CF via cfgrib)"}
    # One year per HDF5 chunk, as in the yearly requests a global download is split into.
    enc = {v: {"zlib": True, "complevel": 1, "_FillValue": np.float32(np.nan), "shuffle": True,
               "chunksizes": (min(12, len(time)), len(lat), len(lon))} for v in fields}
    enc["valid_time"] = {"dtype": "int64"}
    enc["latitude"] = enc["longitude"] = {"_FillValue": None}
    for v in fields:
        ds[v].encoding["coordinates"] = "number valid_time latitude longitude expver"
        del ds[v].attrs["coordinates"]
    with atomic_output(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", encoding=enc)


def grace_solutions(months_all: pd.DatetimeIndex):
    """(month, first day, last day) of each demo GRACE solution, real missing months left out."""
    missing = set()
    for token in MONTHS_MISSING.split(";"):
        missing.update(pd.period_range(token[:7], token[-7:], freq="M").strftime("%Y-%m"))
    sols = []
    for m in months_all[(months_all >= GRACE_START + "-01") & (months_all <= GRACE_END + "-01")]:
        key = f"{m:%Y-%m}"
        if key in ODD_SOLUTIONS:
            a, b = ODD_SOLUTIONS[key]
            sols.append((m, pd.Timestamp(a), pd.Timestamp(b)))
        elif key not in missing:
            sols.append((m, m, m + pd.offsets.MonthEnd(0)))
    return sols


def write_mascon(path: Path, truth_05: xr.DataArray, months_all, spec: DemoSpec, land05: np.ndarray, rng) -> None:
    """JPL mascon CRI v04 layout: solutions' mean of truth + noise, divided by the CRI scale factor."""
    sols = grace_solutions(months_all)
    lat, lon = truth_05["lat"].values, truth_05["lon"].values
    ny, nx = len(lat), len(lon)
    scale = 1.0 + 0.15 * gaussian_filter(rng.standard_normal((ny, nx)), 2.0) / 0.2
    scale = np.clip(scale, 0.8, 1.3)
    tv = truth_05.values
    data = np.empty((len(sols), ny, nx))
    for k, (_, a, b) in enumerate(sols):
        days = pd.date_range(a, b, freq="D").to_period("M").to_timestamp()
        weights = pd.Series(1.0, index=days).groupby(level=0).sum()
        idx = months_all.get_indexer(weights.index)
        obs = np.tensordot(weights.to_numpy() / weights.sum(), tv[idx], axes=1)
        noise = spec.noise_cm * (0.7 * gaussian_filter(rng.standard_normal((ny, nx)), 1.5) / 0.19
                                 + 0.3 * rng.standard_normal((ny, nx)))
        data[k] = (obs + noise) / scale
    epoch = np.datetime64("2002-01-01T00:00:00")
    start = np.array([np.datetime64(a) for _, a, _ in sols])
    end = np.array([np.datetime64(b) for _, _, b in sols])
    t_b = np.stack([(start - epoch), (end - epoch)], axis=1) / np.timedelta64(1, "D")
    t_mid = t_b.mean(axis=1) + 0.5
    lon360 = np.mod(lon, 360.0)
    order = np.argsort(lon360)
    half = spec.grace_resolution / 2
    land_m = land05[:, order].astype(float)
    mascon_id = (np.floor((lat[:, None] + 90) / 3) * 120 + np.floor(lon360[order][None] / 3) + 1)
    ds = xr.Dataset(
        {
            "lwe_thickness": (("time", "lat", "lon"), data[:, :, order], {
                "units": "cm", "long_name": "Liquid_Water_Equivalent_Thickness",
                "standard_name": "Liquid_Water_Equivalent_Thickness", "grid_mapping": "WGS84",
                "comment": "Coastline Resolution Improvement (CRI) filter is applied (synthetic demo data)"}),
            "uncertainty": (("time", "lat", "lon"), np.full(data.shape, spec.noise_cm), {
                "units": "cm", "long_name": "uncertainty", "grid_mapping": "WGS84",
                "comment": "1-sigma uncertainty: not for each 0.5 degree grid cell, but for each 3-degree mascon"}),
            "lat_bounds": (("lat", "bounds"), np.stack([lat - half, lat + half], 1)),
            "lon_bounds": (("lon", "bounds"), np.stack([lon360[order] - half, lon360[order] + half], 1)),
            "time_bounds": (("time", "bounds"), t_b),
            "land_mask": (("lat", "lon"), land_m, {"long_name": "land_mask", "units": "binary"}),
            "scale_factor": (("lat", "lon"), np.where(land_m > 0, scale[:, order], np.nan), {
                "long_name": "scale_factor", "units": "1", "comment": "CRI gain factors from CLM (synthetic)"}),
            "mascon_ID": (("lat", "lon"), mascon_id, {"long_name": "mascon_identifier"}),
        },
        coords={
            "lon": ("lon", lon360[order], {"units": "degrees_east", "long_name": "longitude",
                                           "standard_name": "longitude", "axis": "X", "bounds": "lon_bounds"}),
            "lat": ("lat", lat, {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude",
                                 "axis": "Y", "bounds": "lat_bounds"}),
            "time": ("time", t_mid, {"units": "days since 2002-01-01T00:00:00Z", "calendar": "gregorian",
                                     "long_name": "time", "standard_name": "time", "axis": "T",
                                     "bounds": "time_bounds"}),
        },
        attrs={
            "Conventions": "CF-1.6, ACDD-1.3, ISO 8601",
            "title": "JPL GRACE and GRACE-FO MASCON RL06.3Mv04 CRI (synthetic demo world)",
            "summary": "Synthetic monthly TWSA in the layout of the JPL mascon CRI product; "
                       "truth from the twsrecon demo water-balance model plus noise",
            "time_epoch": "2002-01-01T00:00:00Z", "time_mean_removed": "2004.000 to 2009.999",
            "months_missing": MONTHS_MISSING, "institution": "twsrecon demo generator (not NASA/JPL data)",
        },
    )
    enc = {"lwe_thickness": {"_FillValue": -99999.0, "dtype": "float64", "zlib": True, "complevel": 1,
                             "chunksizes": (min(61, len(sols)), ny, nx)},
           "uncertainty": {"_FillValue": -99999.0, "zlib": True, "complevel": 1},
           "time": {"dtype": "float64", "_FillValue": None}, "time_bounds": {"_FillValue": None},
           "lat": {"_FillValue": None}, "lon": {"_FillValue": None}}
    ds["time_bounds"].attrs = {}
    with atomic_output(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", encoding=enc)


def write_sif(path: Path, sif_05: np.ndarray, months_all: pd.DatetimeIndex, lat, lon) -> None:
    t = ((months_all + pd.Timedelta(days=14)) - pd.Timestamp("1982-01-01")).days.to_numpy().astype(float)
    ds = xr.Dataset(
        {"sif": (("time", "lat", "lon"), sif_05.astype(np.float32), {
            "units": "mW m-2 nm-1 sr-1", "long_name": "long-term reconstructed solar-induced fluorescence (synthetic)"})},
        coords={"time": ("time", t, {"units": "days since 1982-01-01", "calendar": "standard", "standard_name": "time"}),
                "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})},
        attrs={"Conventions": "CF-1.8", "title": "Monthly SIF (synthetic demo, LCSIF-like)"},
    )
    with atomic_output(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", encoding={"sif": {"zlib": True, "_FillValue": np.float32(np.nan)}})


def write_koppen_geotiff(path: Path, spec: DemoSpec, resolution: float, rng) -> None:
    """Beck-style GeoTIFF: Byte, palette, 0 = ocean, pixel edges on multiples of the resolution."""
    import rasterio
    from affine import Affine

    ny = round((spec.lat_max - spec.lat_min) / resolution)
    nx = round((spec.lon_max - spec.lon_min) / resolution)
    lat = spec.lat_max - resolution * (np.arange(ny) + 0.5)
    lon = spec.lon_min + resolution * (np.arange(nx) + 0.5)
    lat2d, lon2d = np.meshgrid(lat, lon, indexing="ij")
    cls = class_at(spec, lat2d, lon2d).astype(np.uint8)
    speckle = rng.random(cls.shape) < 0.04  # scattered pixels of neighbouring climates
    cls[speckle] = rng.integers(1, 31, speckle.sum(), dtype=np.uint8)  # all of Beck's 30 classes
    cls[is_ocean(spec, lat2d, lon2d)] = 0
    cmap = {i: tuple(int(v) for v in rng.integers(0, 255, 3)) + (255,) for i in range(1, 31)}
    cmap[0] = (255, 255, 255, 255)
    profile = dict(driver="GTiff", width=nx, height=ny, count=1, dtype="uint8", crs="EPSG:4326",
                   transform=Affine(resolution, 0.0, spec.lon_min, 0.0, -resolution, spec.lat_max), compress="deflate")
    with atomic_output(path, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(cls, 1)
            dst.write_colormap(1, cmap)
            dst.update_tags(1, legend="Beck et al. (2018) Koppen-Geiger classes 1-30, 0 = ocean (synthetic demo)")
