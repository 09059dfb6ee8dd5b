"""JPL GRACE/GRACE-FO mascon CRI files (RL06.1 v03, RL06.3 v04; separate CLM4 scale-factor and land-mask
files of v02 and earlier) put on calendar months.

Month rule (GR*Ai*CE): a solution whose first day is before the 15th belongs to its first month,
otherwise to its last month. `time_bounds` hold the first and last day included; an upper bound at
00:00 on the first of a month is read as exclusive. When two solutions fall into one month the one
covering more days of that month is kept and the collision is reported.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import InputError
from ..grid import normalise_lon
from ..units import annotate, check_range, unit_kind
from .netcdf import open_input

log = logging.getLogger(__name__)


@dataclass
class MasconReport:
    version: str
    months: list[str] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)
    missing_in_span: list[str] = field(default_factory=list)
    months_missing_attr: list[str] = field(default_factory=list)

    def log(self) -> None:
        log.info("mascon %s: %d monthly solutions %s..%s", self.version, len(self.months),
                 self.months[0] if self.months else "-", self.months[-1] if self.months else "-")
        log.info("months without a solution in that span (%d): %s", len(self.missing_in_span),
                 ";".join(self.missing_in_span))
        for c in self.collisions:
            log.warning("month collision: %s", c)


def mascon_version(path, ds: xr.Dataset) -> str:
    text = f"{Path(path).name} {ds.attrs.get('title', '')} {ds.attrs.get('id', '')}"
    m = re.search(r"v0?(\d)\s*CRI|MSCNv0?(\d)|RL06\.?\d?M?v0?(\d)", text, re.IGNORECASE)
    if m:
        return f"v0{next(g for g in m.groups() if g)}"
    return "unknown"


def parse_months_missing(text: str) -> list[str]:
    """Parse the `months_missing` attribute, tolerating the real file's 'YYYY-MM-YYYY-MM' range token."""
    out = []
    for token in str(text or "").replace(",", ";").split(";"):
        token = token.strip()
        m = re.fullmatch(r"(\d{4}-\d{2})-(\d{4}-\d{2})", token)
        if m:
            out.extend(f"{p:%Y-%m}" for p in pd.period_range(m.group(1), m.group(2), freq="M").to_timestamp())
        elif re.fullmatch(r"\d{4}-\d{2}", token):
            out.append(token)
    return out


def assign_months(starts, ends) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Calendar month (month start) of each solution and the days it covers in that month."""
    starts = pd.DatetimeIndex(starts)
    ends = pd.DatetimeIndex(ends)
    exclusive = (ends.day == 1) & (ends.hour == 0) & (ends.minute == 0) & (ends > starts)
    last_day = ends.where(~exclusive, ends - pd.Timedelta(days=1)).normalize()
    first_month = starts.to_period("M").to_timestamp()
    last_month = last_day.to_period("M").to_timestamp()
    month = pd.DatetimeIndex(np.where(starts.day < 15, first_month, last_month))
    m_end = month + pd.offsets.MonthEnd(0)
    lo = np.maximum(starts.normalize().values, month.values)
    hi = np.minimum(last_day.values, m_end.values)
    days = ((hi - lo) / np.timedelta64(1, "D")).astype(float) + 1.0
    return month, np.clip(days, 0, None)


def _aux_field(ds, name, aux_path, path):
    if name in ds:
        return ds[name], path
    if aux_path:
        aux = open_input(aux_path)
        if name not in aux:
            raise InputError(aux_path, f"variable not found (found: {list(aux.data_vars)})", name)
        return aux[name], aux_path
    return None, None


def _solutions(path, ds: xr.Dataset) -> tuple[np.ndarray, pd.DatetimeIndex, MasconReport]:
    """The solutions kept (indices along the file's time) and their calendar months: one per month, the one
    covering most days of it where two collide. One rule for the TWSA and its uncertainty."""
    bounds_name = ds["time"].attrs.get("bounds", "time_bounds")
    if bounds_name not in ds:
        raise InputError(path, "no time bounds: cannot tell which calendar month each solution covers", bounds_name)
    tb = ds[bounds_name].values
    if not np.issubdtype(tb.dtype, np.datetime64):
        raise InputError(path, "time bounds could not be decoded as dates", bounds_name)
    months, days = assign_months(tb[:, 0], tb[:, 1])

    report = MasconReport(mascon_version(path, ds),
                          months_missing_attr=parse_months_missing(ds.attrs.get("months_missing")))
    keep = np.ones(len(months), bool)
    for m in months[months.duplicated(keep=False)].unique():
        idx = np.flatnonzero(months == m)
        best = idx[np.argmax(days[idx])]
        keep[idx] = False
        keep[best] = True
        spans = ", ".join(f"{pd.Timestamp(tb[i, 0]):%Y-%m-%d}..{pd.Timestamp(tb[i, 1]):%Y-%m-%d}" for i in idx)
        report.collisions.append(f"{m:%Y-%m}: solutions {spans}; kept {pd.Timestamp(tb[best, 0]):%Y-%m-%d}")
    span = pd.date_range(months.min(), months.max(), freq="MS")
    report.months = [f"{m:%Y-%m}" for m in months[keep]]
    report.missing_in_span = [f"{m:%Y-%m}" for m in span.difference(months[keep])]
    return np.flatnonzero(keep), months[keep], report


def _in_cm(path, da: xr.DataArray) -> xr.DataArray:
    units = da.attrs.get("units")
    kind = unit_kind(units)
    if kind not in ("cm", "m", "mm"):
        raise InputError(path, f"units '{units}' not understood, expected cm", da.name)
    return da * {"cm": 1.0, "m": 100.0, "mm": 0.1}[kind]


def read_mascon(path, *, apply_scale_factor: bool = False, scale_factor_path=None, land_mask_path=None,
                chunk_months: int = 12):
    """Return (twsa, land_mask, report): twsa in cm on calendar months (lazy), lon -180..180, lat ascending."""
    ds = open_input(path, time_chunk=chunk_months)
    if "lwe_thickness" not in ds:
        raise InputError(path, f"variable not found (found: {list(ds.data_vars)}): not a JPL mascon file?",
                         "lwe_thickness")
    da = _in_cm(path, ds["lwe_thickness"])
    keep, months, report = _solutions(path, ds)
    da = da.isel(time=keep).assign_coords(time=months)

    if apply_scale_factor:
        sf, sf_path = _aux_field(ds, "scale_factor", scale_factor_path, path)
        if sf is None:
            raise InputError(path, "apply_scale_factor is set but neither this file nor inputs.grace.scale_factor "
                                   "provides the CRI scale factors", "scale_factor")
        da = da * sf.fillna(1.0)
    land, _ = _aux_field(ds, "land_mask", land_mask_path, path)
    # JPL publishes lon 0..360: what this function promises (and the callers' grids use) is -180..180.
    da = normalise_lon(da)
    land = None if land is None else normalise_lon(land)
    da = da.chunk({"time": chunk_months, "lat": -1, "lon": -1}).astype("float32")
    check_range(da.isel(time=[0, -1]).compute().rename("twsa"), "twsa", path, "lwe_thickness")
    twsa = annotate(da, "twsa")
    twsa.attrs.update(source_file=str(path), source_variable="lwe_thickness")
    return twsa, land, report


def read_mascon_uncertainty(path, *, chunk_months: int = 12) -> xr.DataArray | None:
    """JPL's stated 1-sigma uncertainty of each solution (cm, per 3-degree mascon) on the months `read_mascon`
    gives the TWSA, or None where the file has none (v02 and older, other providers). Not scaled: the CRI
    scale factors restore signal lost to the coastline filter, not error."""
    ds = open_input(path, time_chunk=chunk_months)
    if "uncertainty" not in ds:
        return None
    keep, months, _ = _solutions(path, ds)
    da = _in_cm(path, ds["uncertainty"]).isel(time=keep).assign_coords(time=months)
    da = normalise_lon(da).chunk({"time": chunk_months, "lat": -1, "lon": -1}).astype("float32")
    check_range(da.isel(time=[0, -1]).compute(), "twsa_uncertainty", path, "uncertainty")
    out = annotate(da, "twsa_uncertainty")
    out.attrs.update(source_file=str(path), source_variable="uncertainty")
    return out
