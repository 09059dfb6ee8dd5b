"""The canonical units of the cube and the conversions from the providers' units.

Canonical set (GR*Ai*CE): pcp m per month (units m, cell_methods time: sum), tmp K, snow m of water
equivalent, rad J m-2 per month (time: sum),
rh %, sif as given by the product, twsa cm.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError
from .timeaxis import days_in_month

CANONICAL = {
    "pcp": {"units": "m", "long_name": "total precipitation (monthly total)", "cell_methods": "time: sum",
            "standard_name": "lwe_thickness_of_precipitation_amount", "valid": (0.0, 5.0)},
    "tmp": {"units": "K", "long_name": "2 m air temperature (monthly mean)",
            "standard_name": "air_temperature", "valid": (150.0, 350.0)},
    "snow": {"units": "m", "long_name": "snow water equivalent (monthly mean)",
             "standard_name": "lwe_thickness_of_surface_snow_amount", "valid": (0.0, 100.0)},
    "rad": {"units": "J m-2", "long_name": "surface net solar radiation (monthly total)", "cell_methods": "time: sum",
            "standard_name": "integral_wrt_time_of_surface_net_downward_shortwave_flux", "valid": (0.0, 2.0e9)},
    "rh": {"units": "%", "long_name": "2 m relative humidity (monthly mean, Magnus formula from t2m and d2m)",
           "standard_name": "relative_humidity", "valid": (0.0, 100.0)},
    "sif": {"units": "mW m-2 nm-1 sr-1", "long_name": "solar-induced chlorophyll fluorescence (monthly mean)",
            "valid": (-5.0, 50.0)},
    "et": {"units": "m", "long_name": "evapotranspiration (monthly total, ERA5 -e)", "cell_methods": "time: sum",
           "standard_name": "lwe_thickness_of_water_evaporation_amount", "valid": (-1.0, 2.0)},
    # runoff_amount is in kg m-2; the cube keeps metres of water (as ERA5 ro), so a long name only.
    "runoff": {"units": "m", "long_name": "total runoff, liquid water equivalent thickness (monthly total, ERA5 ro)",
               "cell_methods": "time: sum", "valid": (-0.1, 10.0)},
    "storage": {"units": "m", "long_name": "model water storage: soil water (swvl1-4 x layer depth) + snow (sd) "
                                           "+ skin reservoir (src)", "valid": (0.0, 100.0)},
    # No CF standard name exists for a storage anomaly: long name only (docs/cf_compliance.md).
    "twsa": {"units": "cm", "long_name": "terrestrial water storage anomaly (liquid water equivalent thickness)",
             "valid": (-5000.0, 5000.0)},
    # The provider's stated error: the BCNN's and the ensemble's intervals are calibrated for the true TWSA.
    "twsa_uncertainty": {"units": "cm", "long_name": "stated 1-sigma uncertainty of the GRACE/GRACE-FO twsa "
                                                     "(per 3-degree mascon, as the provider publishes it)",
                         "valid": (0.0, 1000.0)},
}

# Accepted spellings of a unit, by the physical quantity they measure.
_ALIASES = {
    "m": {"m", "metre", "meter", "metres", "meters", "m of water equivalent", "m w.e.", "m of water"},
    "mm": {"mm", "millimetre", "millimeter", "kg m-2", "kg m**-2", "kg/m2", "kg m^-2"},
    "K": {"k", "kelvin", "degk"},
    "degC": {"degc", "c", "celsius", "degree_celsius", "degrees_celsius", "°c"},
    "J m-2": {"j m**-2", "j m-2", "j/m2", "j m^-2"},
    "cm": {"cm", "centimetre", "centimeter"},
    "%": {"%", "percent"},
}


def unit_kind(units: str | None) -> str | None:
    u = (units or "").strip().lower()
    for kind, names in _ALIASES.items():
        if u in {n.lower() for n in names}:
            return kind
    return None


def check_range(da: xr.DataArray, name: str, path=None, source_variable=None) -> None:
    """Values far outside the physical range mean the file's units are not what it claims."""
    lo, hi = CANONICAL[name]["valid"]
    vmin, vmax = float(da.min(skipna=True)), float(da.max(skipna=True))
    if np.isfinite(vmin) and (vmin < lo or vmax > hi):
        raise InputError(
            path,
            f"values {vmin:g}..{vmax:g} after conversion to {CANONICAL[name]['units']} lie outside the plausible "
            f"range {lo:g}..{hi:g} for {name}: wrong units attribute?",
            source_variable,
        )


def _bad_units(path, variable, units, expected):
    return InputError(path, f"units '{units}' not understood, expected one of: {expected}", variable)


def era5_to_canonical(da: xr.DataArray, name: str, path=None, monthly_means=True) -> xr.DataArray:
    """ERA5 monthly-mean field to the canonical unit of `name` (pcp, tmp, snow, rad, or dewpoint as tmp)."""
    src = da.name
    units = da.attrs.get("units")
    kind = unit_kind(units)
    if name in ("pcp", "runoff", "et"):
        # Monthly means of accumulations are mean daily totals: multiply by the days in the month.
        factor = {"m": 1.0, "mm": 1e-3}.get(kind)
        if factor is None:
            raise _bad_units(path, src, units, "m, mm (mean daily total)")
        days = xr.DataArray(days_in_month(da["time"].values), dims="time", coords={"time": da["time"]})
        return da * factor * (days if monthly_means else 1.0)
    if name == "rad":
        if kind != "J m-2":
            raise _bad_units(path, src, units, "J m**-2 (mean daily total)")
        days = xr.DataArray(days_in_month(da["time"].values), dims="time", coords={"time": da["time"]})
        return da * (days if monthly_means else 1.0)
    if name == "tmp":
        if kind == "K":
            return da
        if kind == "degC":
            return da + 273.15
        raise _bad_units(path, src, units, "K, degC")
    if name == "snow":
        factor = {"m": 1.0, "mm": 1e-3}.get(kind)
        if factor is None:
            raise _bad_units(path, src, units, "m of water equivalent, mm, kg m-2")
        return da * factor
    raise KeyError(name)


def magnus_saturation_hpa(t_kelvin):
    """Saturation vapour pressure over water (Alduchov & Eskridge 1996 Magnus coefficients)."""
    t = t_kelvin - 273.15
    return 6.1094 * np.exp(17.625 * t / (t + 243.04))


def relative_humidity(t2m_k, d2m_k):
    """2 m relative humidity (%) from 2 m temperature and dewpoint (K), clipped to 0..100."""
    rh = 100.0 * magnus_saturation_hpa(d2m_k) / magnus_saturation_hpa(t2m_k)
    return rh.clip(0.0, 100.0) if hasattr(rh, "clip") else np.clip(rh, 0.0, 100.0)


def dewpoint_from_rh(t2m_k, rh_percent):
    """Inverse of `relative_humidity`, used by the demo generator to write d2m."""
    t = t2m_k - 273.15
    gamma = np.log(np.clip(rh_percent, 1e-3, 100.0) / 100.0) + 17.625 * t / (t + 243.04)
    return 243.04 * gamma / (17.625 - gamma) + 273.15


def annotate(da: xr.DataArray, name: str) -> xr.DataArray:
    """Canonical name, units and CF attributes."""
    meta = {k: v for k, v in CANONICAL[name].items() if k != "valid"}
    da = da.rename(name)
    da.attrs = {**meta, "grid_mapping": "crs"}
    return da
