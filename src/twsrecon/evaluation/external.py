"""External TWSA products (any regular lat/lon netCDF, any CF time encoding) read onto the analysis grid as
monthly cm, and their agreement with ours in the gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..data.timeaxis import month_start
from ..errors import InputError
from .metrics import score
from .scores import METRICS
from .tables import medians

LENGTH_TO_CM = {"cm": 1.0, "mm": 0.1, "m": 100.0}


# --- external products ----------------------------------------------------------------------------------


def read_external(path, variable: str | None, grid, *, time_units: str | None = None,
                  units: str | None = None) -> xr.DataArray:
    """Any TWSA netCDF on a regular lat/lon grid, any CF time encoding, as monthly cm on the analysis grid."""
    from ..data.grid import regrid
    from ..data.io.netcdf import open_input, select_field

    ds = open_input(path, decode_times=False)
    da = select_field(ds, path, variable, 3, "evaluation.external.<name>.variable")
    variable = da.name
    tdim = next((d for d in da.dims if d not in ("lat", "lon")), None)
    if set(da.dims) - {"lat", "lon"} != {tdim} or da.ndim != 3:
        raise InputError(path, f"expected dims (time, lat, lon), found {da.dims}", variable)
    t = ds[tdim]
    t_units = time_units or t.attrs.get("units")
    if not t_units or "since" not in t_units:
        raise InputError(path, f"time coordinate '{tdim}' has no CF units ('<unit> since <date>'); "
                               "give evaluation.external.<name>.time_units", variable)
    try:
        times = xr.coding.times.decode_cf_datetime(t.values, t_units, t.attrs.get("calendar", "standard"))
    except Exception as err:
        raise InputError(path, f"cannot decode time '{t_units}': {err}", variable) from err
    unit = (units or da.attrs.get("units", "")).strip()
    if unit not in LENGTH_TO_CM:
        raise InputError(path, f"units '{unit}' are not a water thickness (cm, mm or m); "
                               "give evaluation.external.<name>.units if the file lacks them", variable)
    da = da.rename({tdim: "time"}).assign_coords(time=month_start(times))
    da = (da.astype(np.float64) * LENGTH_TO_CM[unit]).groupby("time").mean()  # two stamps in one month: mean
    out = regrid(da, grid, path=path, require_cover=False)
    out.name = "twsa"
    return out


def external_product(settings: dict, path, name: str, grid) -> xr.Dataset:
    """An external product's file (`settings`: evaluation.external.<name>) as a TWSA file on the analysis `grid`."""
    da = read_external(path, settings.get("variable"), grid, time_units=settings.get("time_units"),
                       units=settings.get("units"))
    ds = grid.coords()
    ds["twsa"] = da.assign_attrs(units="cm", standard_name="lwe_thickness", grid_mapping="crs",
                                 long_name=f"TWSA of the external product {name}")
    ds = ds.assign_coords(time=("time", da["time"].values, {"standard_name": "time", "axis": "T"}))
    return ds.assign_attrs(title=f"External TWSA product {name}", source=str(path))


def compare_external(external: xr.DataArray, products: dict[str, xr.DataArray], labels: np.ndarray,
                       order) -> pd.DataFrame:
    """An external product scored against each of ours, per region, over the months both cover."""
    rows = []
    for name, ours in products.items():
        s = score(external, ours, metrics=METRICS)  # aligned on the months both have
        both = (external.notnull() & ours.notnull())
        months = int(both.any(("lat", "lon")).sum()) if both.size else 0
        ds = s.expand_dims(period=["overlap"])
        table = medians({name: ds}, labels, order, "region")
        table["months"] = months
        rows.append(table.rename(columns={"product": "reference"}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
