"""The demo world generated: the world of `demo` run, its files written (`demo_files`) and its true TWSA
on the analysis grid (evaluation only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .demo import DemoSpec, forcings, is_ocean, layout, pumping_schedule, water_balance
from .demo_files import era5_grid, write_era5, write_koppen_geotiff, write_mascon, write_sif
from .grid import Grid, regrid
from .io.netcdf import write_netcdf
from .timeaxis import days_in_month, months
from .units import dewpoint_from_rh

BASELINE = ("2004-01-01", "2009-12-01")  # JPL's time_mean_removed 2004.000 to 2009.999


def generate(spec: DemoSpec, analysis_grid: Grid, outdir, *, config: dict | None = None) -> dict:
    """Write every demo file into `outdir`; returns their paths by role."""
    outdir = Path(outdir)
    rng = np.random.default_rng(spec.seed)
    time = months(spec.start, spec.end)
    lat, lon = era5_grid(spec)
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



def demo_world(demo: dict, period: dict, grid: dict, outdir) -> dict:
    """Rule demo_world: the demo world of the `demo` settings over `period` (start, end), written into `outdir`, its
    true TWSA on the analysis `grid` (the settings recorded in it); returns the paths by role."""
    spec = DemoSpec.from_config(demo, period["start"], period["end"])
    return generate(spec, Grid.from_config(grid), outdir, config={"demo": demo, "period": period, "grid": grid})
