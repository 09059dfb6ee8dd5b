"""Safe opening of user files and all-or-nothing writing of our outputs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError
from ..provenance import provenance_attrs


TIME_DIMS = ("time", "valid_time")


def open_input(path, *, time_chunk=None, decode_times=True, mask_and_scale=True) -> xr.Dataset:
    """Open a user's netCDF read-only, turning every failure into an InputError naming the file.

    With `time_chunk`, variables become dask arrays of that many time steps (whole in space) that
    read their own slice from disk, so nothing downstream ever holds a whole file. A truncated file
    often opens but fails on the first read, so one value of every variable at the file's far end
    is read here already.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        ds = xr.open_dataset(
            path, engine="netcdf4", decode_times=decode_times, mask_and_scale=mask_and_scale, cache=False,
        )
    except Exception as err:  # netCDF4/HDF5 raise OSError, ValueError, RuntimeError…
        if decode_times:
            _undecodable_time(path, err)
        raise InputError(path, f"not a readable netCDF file (truncated or corrupt?): {err}") from err
    for name, var in ds.variables.items():
        if var.ndim == 0 or var.size == 0:
            continue
        try:
            var[tuple(-1 for _ in var.dims)].values
        except Exception as err:
            ds.close()
            raise InputError(path, f"cannot read data (truncated or corrupt file?): {err}", name) from err
    if time_chunk:
        ds = ds.chunk({d: (time_chunk if d in TIME_DIMS else -1) for d in ds.dims})
    return ds


def _undecodable_time(path, err) -> None:
    """A file that opens without time decoding has a time axis that cannot be decoded: say that, not 'corrupt'."""
    try:
        with xr.open_dataset(path, engine="netcdf4", decode_times=False, cache=False) as raw:
            for name, var in raw.variables.items():
                units = str(var.attrs.get("units", ""))
                if " since " in units:
                    try:
                        xr.decode_cf(raw[[name]])
                    except Exception:
                        raise InputError(path, f"time units '{units}' cannot be decoded ({err}); expected e.g. "
                                               "'days since 2002-01-01'", name) from err
    except InputError:
        raise
    except Exception:
        return  # not readable even so: the caller reports a corrupt file


def read_latlon(path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A netCDF file's latitude and longitude coordinates and the names of its gridded variables (no data
    read): for checks before any job."""
    with xr.open_dataset(path, engine="netcdf4", decode_times=False, cache=False) as ds:
        names = {}
        for axis, aliases in (("lat", ("lat", "latitude", "y")), ("lon", ("lon", "longitude", "x"))):
            found = [n for n in aliases if n in ds.variables]
            if not found:
                raise InputError(path, f"no {axis} coordinate (looked for {', '.join(aliases)})")
            names[axis] = found[0]
        gridded = [n for n, v in ds.data_vars.items() if {names["lat"], names["lon"]} <= set(v.dims)]
        return ds[names["lat"]].values, ds[names["lon"]].values, gridded


LATLON_NAMES = {"lat": ("latitude", "y"), "lon": ("longitude", "x")}


def select_field(ds: xr.Dataset, path, variable: str | None, ndim: int, config_key: str) -> xr.DataArray:
    """A user's field by name, or the file's only `ndim`-D variable, with its dims named lat and lon."""
    if variable is None:
        names = [n for n, v in ds.data_vars.items() if v.ndim == ndim]
        if len(names) != 1:
            raise InputError(path, f"cannot tell which variable to use among {names}; set {config_key}")
        variable = names[0]
    if variable not in ds:
        raise InputError(path, "variable not in file", variable)
    da = ds[variable]
    return da.rename({d: t for d in da.dims for t, names in LATLON_NAMES.items() if d in names})


def partial_path(path, suffix=None) -> Path:
    """The one temporary name of an output while it is written: `.<name>.part<suffix>` beside it.

    Fixed per output (not random), so what a killed job leaves behind is found and replaced by the next
    run of the same rule instead of lying there forever (tens of GB for a global cube).
    """
    path = Path(path)
    return path.with_name(f".{path.name}.part{suffix or '.tmp'}")


@contextlib.contextmanager
def atomic_output(path, suffix=None):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A stale temporary file of the same output (from a killed run) is removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path, suffix)
    tmp.unlink(missing_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    tmp.touch(mode=0o666 & ~umask)  # group-readable like any other output
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cf_encoding(ds: xr.Dataset) -> dict:
    """Compression for data, no fill values on coordinates and bounds, CF time units."""
    enc = {}
    for name, var in ds.data_vars.items():
        if np.issubdtype(var.dtype, np.floating):
            enc[name] = {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan) if var.dtype == np.float32 else np.nan}
        elif np.issubdtype(var.dtype, np.integer):
            enc[name] = {"zlib": True, "complevel": 4}
    for name in ds.coords:
        if name.endswith("_bnds") or name.endswith("_bounds") or name in ("lat", "lon"):
            enc[name] = {"_FillValue": None}
    if "time" in ds.coords and np.issubdtype(ds["time"].dtype, np.datetime64):
        enc["time"] = {"units": "days since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "float64"}
    return enc


def write_netcdf(ds: xr.Dataset, path, config=None, *, compute=True, encoding=None) -> None:
    """Write `ds` as NETCDF4 atomically, stamped with the config and code version that made it."""
    ds = ds.copy()
    ds.attrs.setdefault("Conventions", "CF-1.8")
    if config is not None:
        ds.attrs.update(provenance_attrs(config))
    enc = cf_encoding(ds)
    for name, extra in (encoding or {}).items():
        enc.setdefault(name, {}).update(extra)
    with atomic_output(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=enc, compute=compute)
