"""Samples, splits and scaling for the per-cell GR*Ai*CE models.

A sample for target month t holds the predictors of the `window` months before t (t-window..t-1,
the authors' choice) or, with `include_current`, of t-window+1..t. Splits are drawn once per cell
and stored; every later step reads the stored flags instead of drawing again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..periods import NONE, SPLIT_ATTRS, TEST, TRAIN, VAL


def first_target_index(window: int, include_current: bool) -> int:
    """Earliest month index that has a full window of predictors before it."""
    return window - 1 if include_current else window


def windows(predictors: np.ndarray, window: int, include_current: bool) -> np.ndarray:
    """All windows as a view: (..., time, features) -> (..., time, window, features).

    Entry t holds the window of target month t; entries before the first full window are NaN.
    """
    *lead, n_time, n_feat = predictors.shape
    padded = np.concatenate([np.full((*lead, window, n_feat), np.nan, predictors.dtype), predictors], axis=-2)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=-2)  # (..., n_time+1, F, window)
    view = np.moveaxis(view, -1, -2)
    start = 1 if include_current else 0
    return view[..., start:start + n_time, :, :]


def chunked_split(available: np.ndarray, chunk_months: int, seed: int,
                  fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                  holdout: np.ndarray | None = None) -> np.ndarray:
    """Split flags of one cell, independent of any hyperparameter.

    The cell's available months, in order, are cut into chunks of `chunk_months` entries of that list
    (as the authors' chunk shuffle; a missing month does not cut a chunk short), the chunks shuffled
    with `seed` and dealt by months: a chunk goes to the set its middle month falls in on the cumulative
    count, so train/validation/test come out at `fractions` of the months within one chunk. Months in
    `holdout` are test months before any chunk is dealt (a contiguous block every cell shares).
    Whole chunks keep the windows of most test months out of the training months' neighbourhood.
    """
    available = np.asarray(available, bool)
    flags = np.zeros(available.shape, np.int8)
    if holdout is not None:
        held = available & np.asarray(holdout, bool)
        flags[held] = TEST
        available = available & ~held
    idx = np.flatnonzero(available)
    if idx.size == 0:
        return flags
    chunks = [idx[i:i + chunk_months] for i in range(0, idx.size, chunk_months)]
    order = np.random.default_rng(seed).permutation(len(chunks))
    bounds = np.cumsum(fractions)[:2] * idx.size
    done = 0
    for k in order:
        middle = done + len(chunks[k]) / 2
        flags[chunks[k]] = TRAIN if middle <= bounds[0] else VAL if middle <= bounds[1] else TEST
        done += len(chunks[k])
    return flags


def draw_split(twsa: np.ndarray, chunk_months: int, seed: int, fractions=(0.6, 0.2, 0.2),
               holdout: np.ndarray | None = None, history: int = 0) -> np.ndarray:
    """Flags (C, T) of every cell from its GRACE months (finite `twsa`), drawn once per cell before any
    tuning or training, so every model type, window and baseline sees the same test months.

    The first `history` months (the largest window of the search space) are never flagged: every
    flagged month then has a full window whatever window a trial picks.
    """
    available = np.isfinite(np.asarray(twsa))
    available[:, :history] = False
    out = np.zeros(available.shape, np.int8)
    for c in range(len(available)):
        out[c] = chunked_split(available[c], chunk_months, seed, fractions, holdout)
    return out


def holdout_months(time, spans) -> np.ndarray:
    """Months inside any 'YYYY-MM/YYYY-MM' span of `split.holdout` (a string, a list, or None)."""
    time = pd.DatetimeIndex(time)
    spans = [spans] if isinstance(spans, str) else list(spans or [])
    out = np.zeros(len(time), bool)
    for span in spans:
        start, end = (pd.Timestamp(f"{part.strip()}-01") for part in span.split("/"))
        if end < start:
            raise ValueError(f"split.holdout: {span!r} ends before it starts")
        out |= (time >= start) & (time <= end)
    return out


def split_dataset(region: xr.Dataset, *, chunk_months: int, seed: int, fractions, holdout, history: int) -> xr.Dataset:
    """The stored split of one region's cells: (cell, time) flags plus the settings that drew them."""
    time = pd.DatetimeIndex(region["time"].values)
    held = holdout_months(time, holdout)
    flags = draw_split(region["twsa"].transpose("cell", "time").values, chunk_months, seed, tuple(fractions),
                       held, history)
    ds = xr.Dataset(coords={"cell": region["cell"], "lat": region["lat"], "lon": region["lon"],
                            "time": region["time"]})
    ds["split"] = (("cell", "time"), flags, {
        **SPLIT_ATTRS, "coordinates": "lat lon",
        "long_name": "split of each GRACE month of the cell, drawn once before any tuning or training"})
    ds.attrs.update({
        "title": f"Train/validation/test split of the cells of {region.attrs.get('region', '')}",
        "featureType": "timeSeries", "region": region.attrs.get("region", ""),
        "split_chunk_months": int(chunk_months), "split_seed": int(seed),
        "split_fractions": ", ".join(f"{f:g}" for f in fractions),
        "split_holdout": ", ".join([holdout] if isinstance(holdout, str) else list(holdout or [])) or "none",
        "split_history_months": int(history),
    })
    return ds


def gridded_split(splits: list[xr.Dataset], grid_coords: xr.Dataset, time) -> xr.Dataset:
    """The stored split of every region's cells on the analysis grid, over the GRACE era (grace_time):
    the one set of train/validation/test months every product is scored on."""
    nlat, nlon = grid_coords.sizes["lat"], grid_coords.sizes["lon"]
    time = pd.DatetimeIndex(time)
    flags = np.zeros((len(time), nlat, nlon), np.int8)
    for s in splits:
        if s.sizes.get("cell", 0) == 0:
            continue
        if not pd.DatetimeIndex(s["time"].values).equals(time):
            raise ValueError(f"split of region {s.attrs.get('region')} is on another time axis than the cube")
        i, j = np.divmod(s["cell"].values, nlon)
        flags[:, i, j] = s["split"].transpose("time", "cell").values
    grace = (flags > 0).any((1, 2))
    first, last = np.flatnonzero(grace)[[0, -1]] if grace.any() else (0, -1)
    ds = grid_coords.copy()
    ds = ds.assign_coords(grace_time=("grace_time", time[first:last + 1],
                                      {"standard_name": "time", "long_name": "months of the GRACE/GRACE-FO era"}))
    ds["split"] = (("grace_time", "lat", "lon"), flags[first:last + 1], {
        **SPLIT_ATTRS, "grid_mapping": "crs",
        "long_name": "split of each GRACE month of each cell (drawn once, before any tuning or training)"})
    ds.attrs["title"] = "Train/validation/test split of every cell on the analysis grid"
    if splits:
        ds.attrs.update({k: v for k, v in splits[0].attrs.items() if k.startswith("split_")})
    return ds


def months_per_set(flags: np.ndarray) -> np.ndarray:
    """Months of train, validation and test per cell, (C, 3)."""
    return np.stack([(flags == f).sum(-1) for f in (TRAIN, VAL, TEST)], axis=-1)


@dataclass
class RobustScaler:
    """Median / inter-quartile-range scaling per feature (the last axis), as sklearn's RobustScaler."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, axis) -> "RobustScaler":
        q25, med, q75 = np.nanpercentile(values, [25, 50, 75], axis=axis, keepdims=True)
        iqr = q75 - q25
        return cls(med, np.where(iqr > 0, iqr, 1.0))

    def transform(self, x):
        return (x - self.center) / self.scale

    def inverse(self, x):
        return x * self.scale + self.center

    def to_dict(self) -> dict:
        return {"center": np.asarray(self.center).tolist(), "scale": np.asarray(self.scale).tolist()}


def reference(twsa: np.ndarray) -> np.ndarray:
    """Each cell's value in its first GRACE month (the re-reference offset), shape (cells,)."""
    first = np.argmax(np.isfinite(twsa), axis=-1)
    return np.take_along_axis(twsa, first[..., None], axis=-1)[..., 0]
