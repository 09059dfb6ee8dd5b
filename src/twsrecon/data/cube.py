"""The analysis-ready cube: every predictor and the target on one grid and one monthly axis."""

from __future__ import annotations

import logging

import dask
import numpy as np
import xarray as xr

from ..errors import InputError
from ..provenance import provenance_attrs
from ..regions.classes import BECK_CODES, CLASS_NAMES, PREDICTORS
from .grid import Grid, regrid, regrid_classes
from .io.era5 import read_era5
from .io.grace import read_mascon, read_mascon_uncertainty
from .io.koppen import read_koppen
from .io.netcdf import atomic_output, cf_attributes, cf_encoding, write_netcdf
from .io.sif import read_sif

# Written to the cube when the ERA5 files hold them (the BCNN's CWSC and model-TWSA predictors).
OPTIONAL_FIELDS = ("et", "runoff", "storage")
from .timeaxis import months

log = logging.getLogger(__name__)


def land_fraction(land_mask: xr.DataArray, grid: Grid, path) -> xr.DataArray:
    """Share of each analysis cell that the mascon land mask calls land."""
    lm = land_mask.astype("float64").where(np.isfinite(land_mask), 0.0).rename(land_mask.name or "land_mask")
    return regrid(lm, grid, path=path, min_coverage=0.0).fillna(0.0)


def prepare_cube(inputs: dict, grid: Grid, start: str, end: str, out_path, *, config: dict,
               chunk_months: int = 12, min_coverage: float = 0.5, min_land_fraction: float = 0.5,
               max_missing_share: float = 1.0, threads: int = 1) -> None:
    """Read, convert, regrid and write the cube variable by variable, chunk by chunk along time.

    Each variable is computed straight into the (temporary) output file, so peak memory is a few
    time chunks of one source field whatever the input size. A field without any valid value on the domain,
    or (with a land mask) a predictor incomplete on more than `max_missing_share` of the land cells, is an
    error naming its file and variable: it would otherwise surface only as regions without usable cells.
    """
    period = months(start, end)
    g = inputs["grace"]
    twsa, land_mask, report = read_mascon(
        g["path"], apply_scale_factor=g.get("apply_scale_factor", False),
        scale_factor_path=g.get("scale_factor"), land_mask_path=g.get("land_mask"), chunk_months=chunk_months)
    report.log()
    uncertainty = read_mascon_uncertainty(g["path"], chunk_months=chunk_months)
    if uncertainty is None:
        log.info("no stated uncertainty in %s: the intervals are calibrated as if GRACE had no error", g["path"])
    era5 = read_era5(inputs["era5"]["paths"], period, chunk_months, grid)
    sif = read_sif(inputs["sif"]["path"], period, inputs["sif"].get("variable"), chunk_months)

    fields = {**{v: era5[v] for v in era5.data_vars}, "sif": sif, "twsa": twsa.reindex(time=period)}
    if uncertainty is not None:
        fields["twsa_uncertainty"] = uncertainty.reindex(time=period)

    land = None
    if land_mask is not None:
        land = land_fraction(land_mask, grid, g.get("land_mask") or g["path"]) >= min_land_fraction
    base = grid.coords().assign_coords(time=("time", period, {"standard_name": "time", "long_name": "time",
                                                              "axis": "T", "bounds": "time_bnds"}))
    base["time_bnds"] = (("time", "bnds"), np.stack([period.values, (period + period.freq).values], axis=1))
    if land is None:
        log.warning("no GRACE land mask (in the file or inputs.grace.land_mask): ocean cells are kept")
    else:
        base["land_mask"] = land.astype(np.int8).assign_attrs(
            long_name="land cell (JPL mascon land mask covers at least half the cell)", flag_values=[0, 1],
            flag_meanings="ocean land")
    base.attrs.update({
        "title": "Analysis-ready cube of TWSA predictors and GRACE/GRACE-FO TWSA",
        "Conventions": "CF-1.8",
        "grace_mascon_version": report.version,
        "grace_months_without_solution": ";".join(report.missing_in_span),
        "grace_month_collisions": " | ".join(report.collisions),
        "grace_month_rule": "solution starting before the 15th -> its first month, else its last month",
        "regridding": "conservative area-weighted block means (overlap in sin(lat) x lon); a target cell is "
                      f"NaN when less than {min_coverage:.0%} of its area has valid source data",
        **provenance_attrs(config),
    })

    with atomic_output(out_path, suffix=".nc") as tmp, dask.config.set(scheduler="threads", num_workers=threads):
        cf_attributes(base).to_netcdf(tmp, mode="w", format="NETCDF4", encoding=cf_encoding(base))
        # A year of 60 x 60 cells per HDF5 chunk serves both readers: maps by month and series by cell.
        chunks = (min(12, len(period)), min(60, grid.shape[0]), min(60, grid.shape[1]))
        for name in [*PREDICTORS, *(v for v in (*OPTIONAL_FIELDS, "twsa", "twsa_uncertainty") if v in fields)]:
            da = fields[name]
            source, source_var = da.attrs["source_file"], da.attrs["source_variable"]
            out = regrid(da, grid, path=source, min_coverage=min_coverage).astype("float32")
            if land is not None:
                out = out.where(land.values)
            out = out.chunk({"time": chunk_months}).assign_attrs(da.attrs)
            log.info("writing %s from %s (%s)", name, source, source_var)
            write = xr.Dataset({name: out.drop_vars(["time", "lat", "lon"])}).to_netcdf(
                tmp, mode="a", compute=False,
                encoding={name: {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan), "chunksizes": chunks}})
            try:  # the counts share the write's graph: the field is read and regridded once
                _, any_valid, complete = dask.compute(write, out.notnull().any("time"), out.notnull().all("time"))
            except InputError:
                raise
            except Exception as err:
                raise InputError(source, f"cannot read the data (truncated or corrupt file?): {err}",
                                 source_var) from err
            check_field(name, any_valid.values, complete.values, None if land is None else land.values, grid,
                        source, source_var, max_missing_share)


def check_field(name, any_valid, complete, land, grid: Grid, source, source_var, max_missing_share) -> None:
    """Stop on a field that is empty on the domain, or a predictor missing on too many land cells."""
    where = (f"the domain lat {grid.lat_min:g}..{grid.lat_max:g}, lon {grid.lon_min:g}..{grid.lon_max:g}"
             + (" (land cells)" if land is not None else ""))
    if not any_valid.any():
        raise InputError(source, f"no valid values on the domain: every value on {where} is missing "
                                 "(_FillValue or NaN)", source_var)
    if land is None or name in ("twsa", "twsa_uncertainty") or not land.any():
        return
    # SIF has seasonal gaps (polar night) and cells without complete SIF are kept for the noSIF models:
    # only SIF missing in every month counts; a meteorological predictor must be complete.
    what = "in every month" if name == "sif" else "in at least one month"
    missing = int((land & ~(any_valid if name == "sif" else complete)).sum())
    share = missing / int(land.sum())
    log.info("%s: missing %s on %d of %d land cells (%.1f%%)", name, what, missing, int(land.sum()), 100 * share)
    if share > max_missing_share:
        raise InputError(source, f"missing {what} on {missing} of {int(land.sum())} land cells ({share:.0%}) of "
                                 f"{where}, more than prepare.max_missing_share = {max_missing_share:g}", source_var)


def koppen_classes(path, fmt: str, grid: Grid, out_path, *, config: dict, min_land: float = 0.5) -> None:
    """The Köppen–Geiger class of each analysis cell: the class covering most of its area."""
    classes = read_koppen(path, fmt)
    out = regrid_classes(classes, grid, path=path, min_land=min_land)
    ds = grid.coords()
    ds["kg_class"] = out.assign_attrs(
        long_name="Köppen–Geiger class (Beck et al. 2018 legend, majority by area)",
        flag_values=np.arange(0, 31, dtype=np.int16),
        flag_meanings="no_class " + " ".join(_flag_name(c) for c in range(1, 31)),
        grid_mapping="crs", source_file=str(path))
    ds.attrs["title"] = "Köppen–Geiger class of each analysis cell"
    write_netcdf(ds, out_path, config)


def _flag_name(cls: int) -> str:
    return f"{BECK_CODES[cls]}_{CLASS_NAMES[cls]}"
