"""A synthetic but physically plausible demo world, written in the providers' own file formats.

The 28 GR*Ai*CE regions are laid out as 4 x 7 patches. Each patch gets the climate its Köppen–Geiger
code implies (temperature level and seasonal range, amount and seasonality of precipitation, humidity,
radiation), with interannual anomalies that are coherent in space (a shared ENSO-like mode plus
smoothed noise) and a warming trend. A monthly water-balance model driven by these forcings gives the
true TWSA: snow accumulates below freezing and melts by degree-days, evapotranspiration rises with
temperature and radiation and is limited by soil water, a fast soil store, a slow groundwater store
and a surface-water store have different memories, and some cells are pumped (a groundwater trend).
The predictors therefore explain the target through lags and nonlinearities, not trivially.

Its files in the providers' formats: `demo_files`; all of them written by `demo_world.generate`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from ..regions.classes import BECK_CODES, REGIONS
from .grid import Grid
from .timeaxis import days_in_month

log = logging.getLogger(__name__)


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
