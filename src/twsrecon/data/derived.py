"""Predictors derived from the cube's water-balance fields: the cumulative water storage change (CWSC), its
departure from its mean rate, and the land model's own storage (Mo et al. 2022). One home for both users: the
BCNN and the water-balance LSTM model types (`LSTMwb`, `BiLSTMwb`), so the two never compute them differently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

# The cube variables behind each derived predictor, and the ERA5 variables behind those (io.era5.read_era5).
CUBE_NEEDS = {"cwsc": ("pcp", "et", "runoff"), "cwsc_dev": ("pcp", "et", "runoff"), "model_twsa": ("storage",)}
ERA5_NEEDS = {"cwsc": ("e", "ro"), "cwsc_dev": ("e", "ro"), "model_twsa": ("swvl1", "swvl2", "swvl3", "swvl4")}
# Asked of the CDS too, used where present (skin reservoir content, part of the storage).
ERA5_OPTIONAL = {"model_twsa": ("src",)}
# The months the land model's storage is referred to: GRACE's own baseline.
BASELINE = ("2004-01-01", "2009-12-01")


def can_derive(cube: xr.Dataset, name: str) -> bool:
    return all(v in cube for v in CUBE_NEEDS.get(name, (name,)))


def predictor_field(cube: xr.Dataset, name: str) -> np.ndarray:
    """A cube variable, or a derived one: CWSC_t = sum up to t of (P - ET - R) in m; cwsc_dev, the same sum of
    the departures of P - ET - R from its mean over the cube's months (CWSC without its drift, m); and the model
    TWSA (storage minus its 2004-2009 mean, cm) of the land model behind the forcings. Works on any subset of
    the cube's cells (all are per cell), with time first.

    Why cwsc_dev: any imbalance of the forcings (sublimation, abstraction, a bias of ET or runoff) makes CWSC
    drift, so before GRACE it leaves the range a model was fit on (on the demo, 47 % of the 1984-2001 months of
    the median cell); the cumulative departure from the mean (the groundwater hydrologists' CDM) keeps the
    storage memory without the drift."""
    needs = CUBE_NEEDS.get(name, (name,))
    missing = [v for v in needs if v not in cube]
    if missing:
        raise ValueError(f"predictor '{name}' needs {', '.join(missing)} in the cube: supply the ERA5 "
                         "evaporation (e) and runoff (ro) fields for cwsc and cwsc_dev, soil water swvl1-4 for model_twsa")
    if name in ("cwsc", "cwsc_dev"):
        flux = (cube["pcp"].values - cube["et"].values - cube["runoff"].values).astype(np.float64)
        if name == "cwsc_dev":
            flux = flux - flux.mean(axis=0, keepdims=True)
        return np.cumsum(flux, axis=0)
    if name == "model_twsa":
        storage = cube["storage"].values.astype(np.float64)
        time = pd.DatetimeIndex(cube["time"].values)
        base = (time >= BASELINE[0]) & (time <= BASELINE[1])
        ref = np.nanmean(storage[base], axis=0) if base.any() else np.nanmean(storage, axis=0)
        return 100.0 * (storage - ref[None])
    return cube[name].values.astype(np.float64)


ATTRS = {
    "cwsc": {"units": "m", "long_name": "cumulative water storage change: running sum of P - ET - R"},
    "cwsc_dev": {"units": "m", "long_name": "cumulative departure of P - ET - R from its mean over the record "
                                            "(cumulative water storage change without its drift)"},
    "model_twsa": {"units": "cm", "long_name": "land-model storage (snow + soil water) minus its 2004-2009 mean"},
}
