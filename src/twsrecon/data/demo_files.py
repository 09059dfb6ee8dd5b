"""A synthetic but physically plausible demo world, written in the providers' own file formats.

The 28 GR*Ai*CE regions are laid out as 4 x 7 patches. Each patch gets the climate its Köppen–Geiger
code implies (temperature level and seasonal range, amount and seasonality of precipitation, humidity,
radiation), with interannual anomalies that are coherent in space (a shared ENSO-like mode plus
smoothed noise) and a warming trend. A monthly water-balance model driven by these forcings gives the
true TWSA: snow accumulates below freezing and melts by degree-days, evapotranspiration rises with
temperature and radiation and is limited by soil water, a fast soil store, a slow groundwater store
and a surface-water store have different memories, and some cells are pumped (a groundwater trend).
The predictors therefore explain the target through lags and nonlinearities, not trivially.

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

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import gaussian_filter

from .grid import Grid, regrid
from .io.netcdf import atomic_output, write_netcdf
from ..regions.cells import BECK_CODES, REGIONS
from .timeaxis import days_in_month, months
from .units import dewpoint_from_rh

log = logging.getLogger(__name__)

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
BASELINE = ("2004-01-01", "2009-12-01")  # JPL's time_mean_removed 2004.000 to 2009.999


@dataclass(frozen=True)
class DemoSpec:
    seed: int = 42
    lat_min: float = 30.0
    lon_min: float = -14.0
    patch_degrees: float = 4.0
    rows: int = 4
    cols: int = 7
    fine_resolution: float = 0.25
    grace_resolution: float = 0.5
    noise_cm: float = 1.5
    start: str = "1982-01"
    end: str = "2021-12"

    @classmethod
    def from_config(cls, cfg: dict, start: str, end: str) -> "DemoSpec":
        keys = ("seed", "lat_min", "lon_min", "patch_degrees", "fine_resolution", "grace_resolution", "noise_cm")
        return cls(**{k: cfg[k] for k in keys if k in cfg}, start=start, end=end)

    @property
    def lat_max(self) -> float:
        return self.lat_min + self.rows * self.patch_degrees

    @property
    def lon_max(self) -> float:
        return self.lon_min + self.cols * self.patch_degrees

    def domain(self, resolution: float) -> Grid:
        return Grid(resolution, self.lat_min, self.lat_max, self.lon_min, self.lon_max)


def layout(spec: DemoSpec) -> np.ndarray:
    """Beck class of each patch (rows south to north), the 28 regions in class order."""
    classes = np.array(sorted(REGIONS.values()))
    return classes.reshape(spec.rows, spec.cols)


def class_at(spec: DemoSpec, lat, lon) -> np.ndarray:
    r = np.clip(((np.asarray(lat) - spec.lat_min) // spec.patch_degrees).astype(int), 0, spec.rows - 1)
    c = np.clip(((np.asarray(lon) - spec.lon_min) // spec.patch_degrees).astype(int), 0, spec.cols - 1)
    return layout(spec)[r, c]


def is_ocean(spec: DemoSpec, lat, lon) -> np.ndarray:
    """A south-western coast: the sea takes a corner of the first patch only."""
    return (np.asarray(lat) - spec.lat_min) + 0.5 * (np.asarray(lon) - spec.lon_min) < 0.625 * spec.patch_degrees


def climate(code: str) -> dict:
    """Climate parameters implied by a Köppen–Geiger code (northern-hemisphere seasons)."""
    p = {"t_mean": 285.0, "t_amp": 8.0, "p_mean": 0.07, "p_amp": 0.2, "p_peak": 6, "rh": 65.0,
         "r_mean": 14e6, "r_amp": 0.4, "s_max": 0.25, "tau_g": 36.0}
    group = code[0]
    if group == "A":
        p.update(t_mean=299.0, t_amp=1.5, rh=80.0, r_mean=17e6, r_amp=0.1, s_max=0.4, tau_g=24.0)
        p.update({"Af": dict(p_mean=0.22, p_amp=0.15), "Am": dict(p_mean=0.20, p_amp=0.8),
                  "Aw": dict(p_mean=0.11, p_amp=0.95)}[code])
    elif group == "B":
        hot = code[2] == "h"
        p.update(t_mean=297.0 if hot else 283.0, t_amp=7.0 if hot else 13.0, r_mean=19e6 if hot else 16e6,
                 r_amp=0.25 if hot else 0.45, s_max=0.12, tau_g=60.0)
        p.update(dict(p_mean=0.012, p_amp=0.6, rh=28.0) if code[1] == "W" else dict(p_mean=0.035, p_amp=0.7, rh=45.0))
    elif group in "CD":
        summer = code[2]
        if group == "C":
            p.update(t_mean={"a": 290.0, "b": 284.0, "c": 278.0}[summer], t_amp={"a": 9.0, "b": 7.0, "c": 5.0}[summer],
                     p_mean=0.075, rh=70.0, r_mean=13e6, r_amp=0.5, s_max=0.3)
        else:
            p.update(t_mean={"a": 282.0, "b": 278.0, "c": 270.0, "d": 262.0}[summer],
                     t_amp={"a": 14.0, "b": 15.0, "c": 18.0, "d": 24.0}[summer],
                     p_mean=0.05, rh=70.0, r_mean=11e6, r_amp=0.7, s_max=0.3, tau_g=48.0)
        p.update({"s": dict(p_amp=0.8, p_peak=0), "w": dict(p_amp=0.8, p_peak=6), "f": dict(p_amp=0.15, p_peak=6)}
                 [code[1]])
    else:  # polar
        p.update(t_mean=263.0 if code == "ET" else 248.0, t_amp=10.0 if code == "ET" else 12.0,
                 p_mean=0.03 if code == "ET" else 0.012, p_amp=0.3, rh=80.0, r_mean=7e6, r_amp=0.9,
                 s_max=0.15, tau_g=72.0)
    return p


def _param_fields(spec: DemoSpec, lat2d, lon2d) -> dict:
    cls = class_at(spec, lat2d, lon2d)
    table = {c: climate(BECK_CODES[c]) for c in np.unique(cls)}
    keys = next(iter(table.values())).keys()
    out = {k: np.vectorize(lambda c, k=k: table[int(c)][k])(cls).astype(float) for k in keys}
    out["class"] = cls
    return out


def _smooth_noise(rng, nt, shape, sigma, phi):
    """AR(1) in time, Gaussian-smoothed in space, unit variance."""
    out = np.empty((nt, *shape))
    prev = np.zeros(shape)
    for t in range(nt):
        eps = gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
        eps /= eps.std() + 1e-12
        prev = phi * prev + np.sqrt(1 - phi**2) * eps
        out[t] = prev
    return out


def forcings(spec: DemoSpec, time: pd.DatetimeIndex, lat2d, lon2d, rng) -> dict:
    """Monthly forcing fields (time, lat, lon) before the land-surface feedbacks on radiation."""
    nt, shape = len(time), lat2d.shape
    prm = _param_fields(spec, lat2d, lon2d)
    m = time.month.to_numpy()[:, None, None] - 1.0
    years = (time.year.to_numpy() + (time.month.to_numpy() - 0.5) / 12.0)[:, None, None]
    sigma = 1.0 / spec.fine_resolution  # ~1 deg spatial correlation
    enso = np.zeros(nt)
    for t in range(1, nt):
        enso[t] = 0.93 * enso[t - 1] + np.sqrt(1 - 0.93**2) * rng.standard_normal()
    enso_w = np.sin(np.deg2rad(5 * (lon2d - spec.lon_min))) * 0.8  # teleconnection pattern
    a_t = 0.7 * _smooth_noise(rng, nt, shape, sigma, 0.5) + 0.5 * enso[:, None, None] * enso_w
    a_p = 0.8 * _smooth_noise(rng, nt, shape, sigma, 0.4) - 0.4 * enso[:, None, None] * enso_w
    seas = np.cos(2 * np.pi * (m - 6.0) / 12.0)
    tmp = prm["t_mean"] + prm["t_amp"] * seas + 0.025 * (years - 2000.0) + 1.2 * a_t
    p_season = 1.0 + prm["p_amp"] * np.cos(2 * np.pi * (m - prm["p_peak"]) / 12.0)
    sig = 0.45
    pcp = prm["p_mean"] * np.clip(p_season, 0.02, None) * np.exp(sig * a_p - sig**2 / 2)
    cloud = np.clip(0.5 * a_p, -0.6, 0.6)
    rad_clear = prm["r_mean"] * (1.0 + prm["r_amp"] * np.cos(2 * np.pi * (m - 5.5) / 12.0))
    rad_in = rad_clear * (1.0 - 0.25 * cloud)  # J m-2 per day, before albedo
    rh = np.clip(prm["rh"] + 10.0 * a_p - 5.0 * seas * (prm["p_peak"] == 0), 8.0, 98.0)
    return {"tmp": tmp, "pcp": pcp, "rad_in": rad_in, "rh": rh, "params": prm}


def water_balance(f: dict, time: pd.DatetimeIndex, pumping: np.ndarray, spinup_cycles: int = 3) -> dict:
    """Monthly snow / soil / groundwater / surface-water model; storages in m, fluxes in m per month."""
    prm = f["params"]
    days = days_in_month(time)[:, None, None] * np.ones_like(f["tmp"][:1])
    nt = len(time)
    shape = f["tmp"].shape[1:]
    swe, soil, gw, sw = (np.zeros(shape) for _ in range(4))
    soil += 0.5 * prm["s_max"]
    out = {k: np.empty((nt, *shape)) for k in ("swe", "soil", "gw", "sw", "rad", "et", "runoff")}

    def step(t, record):
        nonlocal swe, soil, gw, sw
        tk, p, d = f["tmp"][t], f["pcp"][t], days[t]
        frac_snow = np.clip((274.15 - tk) / 4.0, 0.0, 1.0)
        swe_start = swe.copy()
        swe = swe + p * frac_snow
        melt = np.minimum(swe, 0.003 * np.clip(tk - 273.15, 0.0, None) * d)
        swe = swe - melt
        swe = swe - 0.03 * swe  # sublimation and wind/glacier export keep ice caps in balance
        cover = np.clip(0.5 * (swe + swe_start) / 0.05, 0.0, 1.0)
        rad = f["rad_in"][t] * (1.0 - 0.15 - 0.55 * cover)  # net shortwave after albedo, J m-2 per day
        tc = tk - 273.15
        delta = 4098 * 0.6108 * np.exp(17.27 * tc / (tc + 237.3)) / (tc + 237.3) ** 2
        pet = 1.26 * delta / (delta + 0.066) * 0.6 * rad * d / 2.45e9 * (1 + 0.5 * (1 - f["rh"][t] / 100.0))
        pet = np.where(tk > 272.15, pet, 0.0)
        soil = soil + p * (1 - frac_snow) + melt
        et = np.minimum(pet * np.clip(soil / (0.7 * prm["s_max"]), 0.0, 1.0), soil)
        soil = soil - et
        excess = np.clip(soil - prm["s_max"], 0.0, None)
        soil = soil - excess
        drain = 0.04 * soil
        soil = soil - drain
        baseflow, streamflow = np.clip(gw, 0.0, None) / prm["tau_g"], sw / 2.5  # a pumped-dry aquifer gives none
        gw = gw + 0.3 * excess + drain - baseflow - (pumping[t] if record else 0.0)
        sw = sw + 0.7 * excess - streamflow
        if record:
            out["swe"][t] = 0.5 * (swe + swe_start)
            out["soil"][t], out["gw"][t], out["sw"][t], out["rad"][t], out["et"][t] = soil, gw, sw, rad, et
            out["runoff"][t] = baseflow + streamflow

    spin = min(nt, 120)
    for _ in range(spinup_cycles):
        for t in range(spin):
            step(t, False)
    for t in range(nt):
        step(t, True)
    return out


def pumping_schedule(spec: DemoSpec, time: pd.DatetimeIndex, lat2d, lon2d, rng) -> np.ndarray:
    """Groundwater abstraction (m per month) in a 2x2 deg block of some dry and warm patches, from 1995."""
    cls = class_at(spec, lat2d, lon2d)
    rate = np.zeros(lat2d.shape)
    for c in (6, 7, 8, 11, 14, 17, 25):
        rows, cols = np.nonzero(layout(spec) == c)
        lat0 = spec.lat_min + rows[0] * spec.patch_degrees + 1.0
        lon0 = spec.lon_min + cols[0] * spec.patch_degrees + 1.0
        block = (lat2d >= lat0) & (lat2d < lat0 + 2) & (lon2d >= lon0) & (lon2d < lon0 + 2) & (cls == c)
        rate[block] = rng.uniform(0.0015, 0.003)  # 1.8-3.6 cm per year
    years = time.year.to_numpy() + (time.month.to_numpy() - 1) / 12.0
    ramp = np.clip((years - 1995.0) / 10.0, 0.0, 1.0)
    return ramp[:, None, None] * rate[None]


# --------------------------------------------------------------------------- writers in provider formats

def _era5_grid(spec: DemoSpec):
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


def generate(spec: DemoSpec, analysis_grid: Grid, outdir, *, config: dict | None = None) -> dict:
    """Write every demo file into `outdir`; returns their paths by role."""
    outdir = Path(outdir)
    rng = np.random.default_rng(spec.seed)
    time = months(spec.start, spec.end)
    lat, lon = _era5_grid(spec)
    lat2d, lon2d = np.meshgrid(lat, lon, indexing="ij")
    f = forcings(spec, time, lat2d, lon2d, rng)
    pump = pumping_schedule(spec, time, lat2d, lon2d, rng)
    wb = water_balance(f, time, pump)
    tws = wb["swe"] + wb["soil"] + wb["gw"] + wb["sw"]
    base = (time >= BASELINE[0]) & (time <= BASELINE[1])
    twsa_cm = 100.0 * (tws - tws[base].mean(axis=0))
    days = days_in_month(time)[:, None, None]

    # SIF: photosynthesis needs light, warmth and soil water; bare ice has none.
    f_t = np.clip((f["tmp"] - 271.0) / 15.0, 0.0, 1.0)
    f_w = np.clip(wb["soil"] / (0.6 * f["params"]["s_max"]), 0.05, 1.0)
    sif = 1.2 * (wb["rad"] / 20e6) * f_t * f_w + 0.02 * rng.standard_normal(f_t.shape)
    sif = np.clip(sif, 0.0, None)

    era5_dir = outdir / "era5"
    sd = wb["swe"].copy()
    # ERA5-Land-like holes: one analysis cell in two patches has no snow field (the cube drops these cells).
    for c in (15, 26):
        r, cc = np.argwhere(layout(spec) == c)[0]
        la = spec.lat_min + r * spec.patch_degrees + 2
        lo = spec.lon_min + cc * spec.patch_degrees + 2
        sd[:, (lat2d > la - 0.01) & (lat2d < la + 1.01) & (lon2d > lo - 0.01) & (lon2d < lo + 1.01)] = np.nan
    dew = dewpoint_from_rh(f["tmp"], f["rh"])
    paths = {
        "era5": [era5_dir / "data_stream-moda_stepType-avgua.nc", era5_dir / "data_stream-moda_stepType-avgad.nc"],
        "grace": outdir / "GRCTellus.JPL.200204_202112.GLO.RL06.3M.MSCNv04CRI.nc",
        "sif": outdir / "sif_monthly_0p5deg.nc",
        "koppen": outdir / "koppen_geiger_0p25.tif",
        "truth": outdir / "truth_twsa.nc",
    }
    # The land model's own soil water (no groundwater, like ERA5-Land) spread over ERA5's 2.89 m of layers.
    swvl = wb["soil"] / 2.89
    write_era5(paths["era5"][0], "avgua", {"t2m": f["tmp"], "d2m": dew, "sd": sd,
                                           **{f"swvl{i}": swvl for i in range(1, 5)}}, time, lat, lon)
    write_era5(paths["era5"][1], "avgad", {"tp": f["pcp"] / days, "ssr": wb["rad"], "e": -wb["et"] / days,
                                           "ro": wb["runoff"] / days}, time, lat, lon)

    fine = xr.DataArray(twsa_cm, dims=("time", "lat", "lon"), coords={"time": time, "lat": lat, "lon": lon})
    g05 = spec.domain(spec.grace_resolution)
    truth_05 = regrid(fine, g05).transpose("time", "lat", "lon")
    land05 = ~is_ocean(spec, *np.meshgrid(g05.lat, g05.lon, indexing="ij"))
    write_mascon(paths["grace"], truth_05, time, spec, land05, rng)

    sif_05 = regrid(xr.DataArray(sif, dims=fine.dims, coords=fine.coords), g05).values
    lat05_2d, lon05_2d = np.meshgrid(g05.lat, g05.lon, indexing="ij")
    r, c = np.argwhere(layout(spec) == 30)[0]  # some polar-frost ice without fluorescence
    ice = (lat05_2d > spec.lat_min + r * spec.patch_degrees + 3) & (lon05_2d < spec.lon_min + c * spec.patch_degrees + 2) \
        & (lon05_2d > spec.lon_min + c * spec.patch_degrees)
    sif_05[:, ice] = np.nan
    write_sif(paths["sif"], sif_05, time, g05.lat, g05.lon)
    write_koppen_geotiff(paths["koppen"], spec, spec.fine_resolution, rng)

    truth = regrid(fine, analysis_grid).transpose("time", "lat", "lon")
    land_a = ~is_ocean(spec, *np.meshgrid(analysis_grid.lat, analysis_grid.lon, indexing="ij"))
    pumped = regrid(xr.DataArray((pump[-1] > 0).astype(float), dims=("lat", "lon"),
                                 coords={"lat": lat, "lon": lon}), analysis_grid) > 0.25
    ds = analysis_grid.coords()
    ds = ds.assign_coords(time=("time", time, {"standard_name": "time", "axis": "T"}))
    ds["twsa"] = truth.where(land_a).astype(np.float32).assign_attrs(
        units="cm", long_name="true terrestrial water storage anomaly of the demo world (evaluation only)",
        grid_mapping="crs",
        comment="snow + soil + groundwater + surface water, minus the 2004-2009 mean")
    ds["pumping"] = pumped.where(land_a, False).astype(np.int8).assign_attrs(
        long_name="cell with groundwater abstraction from 1995 (a declining-storage trend)",
        flag_values=[0, 1], flag_meanings="no_pumping pumping")
    ds.attrs.update({"title": "Demo world: true TWSA", "demo_seed": spec.seed})
    write_netcdf(ds, paths["truth"], config)
    return paths


