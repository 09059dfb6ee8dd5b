"""Safe opening of user files and all-or-nothing writing of our outputs."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from ...errors import InputError
from ...provenance import code_version, provenance_attrs

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


TIME_UNITS = {"units": "days since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "float64"}


def _bounds_names(ds: xr.Dataset) -> set[str]:
    """Variables named by a `bounds` attribute, or called *_bnds / *_bounds (those in `ds`)."""
    named = {v.attrs["bounds"] for v in ds.variables.values() if "bounds" in v.attrs}
    return {n for n in ds.variables if n in named or str(n).endswith(("_bnds", "_bounds"))}


# CF attributes of the coordinates every output shares, where a builder left them out (e.g. the per-cell
# lat/lon of the region and training files, or a time axis taken over from a plain index).
COORD_ATTRS = {
    "time": {"standard_name": "time", "long_name": "time (first day of the month)", "axis": "T"},
    "grace_time": {"long_name": "months of the GRACE/GRACE-FO era (first day of the month)"},
    "lat": {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"},
    "lon": {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east"},
    "cell": {"long_name": "analysis grid cell index (row-major: lat index x number of lon + lon index)"},
    "feature": {"long_name": "model input feature"},
    "period": {"long_name": "evaluation period"},
}


def cf_encoding(ds: xr.Dataset) -> dict:
    """Compression for data; CF 1.8 (checked by compliance-checker, tests/test_cf_compliance.py): no
    _FillValue on coordinates or bounds (§2.5.1, §7.1), times and time bounds as float64 days (int64 is not
    a CF type, §2.2), bounds in the units of their coordinate."""
    enc = {}
    bounds = _bounds_names(ds)
    for name, var in ds.data_vars.items():
        if name in bounds:
            continue
        if np.issubdtype(var.dtype, np.floating):
            enc[name] = {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan) if var.dtype == np.float32 else np.nan}
        elif np.issubdtype(var.dtype, np.integer):
            enc[name] = {"zlib": True, "complevel": 4, **_int32(var)}
    for name in {*ds.coords, *bounds}:
        var = ds[name]
        enc[name] = {"_FillValue": None}
        if np.issubdtype(var.dtype, np.datetime64):
            enc[name].update(TIME_UNITS)
        else:
            enc[name].update(_int32(var))
    return enc


def _int32(var: xr.Variable) -> dict:
    """int64 is no netCDF-3/CF-1.8 type: write int32 where the values fit (ids, counts, flags always do)."""
    if var.dtype != np.int64:
        return {}
    values = np.asarray(var.values)
    if values.size and (values.min() < np.iinfo(np.int32).min or values.max() > np.iinfo(np.int32).max):
        raise ValueError(f"variable {var.name!r}: int64 values beyond the int32 range cannot be written as CF int32")
    return {"dtype": "int32"}


def cf_attributes(ds: xr.Dataset) -> xr.Dataset:
    """Attributes CF asks for that the builders of a dataset need not repeat: the shared coordinates'
    names and units, no `bounds` naming a variable that is not there, flag_values in the type of their
    variable (§3.5), no units on bounds (they take their coordinate's, §7.1), a history line (§2.6.2)."""
    ds = ds.copy()
    for name, attrs in COORD_ATTRS.items():
        if name in ds.variables:
            if name in ("lat", "lon") and ds[name].dims != (name,):  # per-cell positions: no axis of their own
                attrs = {**attrs, "long_name": f"{attrs['long_name']} of the cell centre"}
            var = ds.variables[name]
            var.attrs = {**attrs, **var.attrs}
    for name, var in ds.variables.items():
        if var.attrs.get("bounds") and var.attrs["bounds"] not in ds.variables:  # kept from a parent dataset
            var.attrs.pop("bounds")
        if "flag_values" in var.attrs and np.issubdtype(var.dtype, np.integer):
            var.attrs["flag_values"] = np.asarray(var.attrs["flag_values"]).astype(var.dtype)
    for name in _bounds_names(ds):
        for key in ("units", "calendar", "long_name", "standard_name"):
            ds.variables[name].attrs.pop(key, None)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ds.attrs["history"] = "\n".join(filter(None, [ds.attrs.get("history"), f"{stamp} written by {code_version()}"]))
    ds.attrs.setdefault("Conventions", "CF-1.8")
    return ds


def write_netcdf(ds: xr.Dataset, path, config=None, *, compute=True, encoding=None) -> None:
    """Write `ds` as CF-1.8 NETCDF4 atomically, stamped with the config and code version that made it."""
    ds = cf_attributes(ds)
    if config is not None:
        ds.attrs.update(provenance_attrs(config))
    enc = cf_encoding(ds)
    for name, extra in (encoding or {}).items():
        enc.setdefault(name, {}).update(extra)
    with atomic_output(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=enc, compute=compute)
