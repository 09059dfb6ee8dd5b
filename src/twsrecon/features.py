"""Samples, splits and scaling for the per-cell GR*Ai*CE models.

A sample for target month t holds the predictors of the `window` months before t (t-window..t-1,
the authors' choice) or, with `include_current`, of t-window+1..t. Splits are drawn once per cell
and stored; every later step reads the stored flags instead of drawing again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Split flags stored with every trained chunk.
NONE, TRAIN, VAL, TEST = 0, 1, 2, 3
FLAG_MEANINGS = "not_used train validation test"


def first_target_index(window: int, include_current: bool) -> int:
    """Earliest month index that has a full window of predictors before it."""
    return window - 1 if include_current else window


def window_slice(t: int, window: int, include_current: bool) -> slice:
    end = t + 1 if include_current else t
    return slice(end - window, end)


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


def chunked_split(available: np.ndarray, window: int, seed: int,
                  fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> np.ndarray:
    """Split flags for one cell: runs of consecutive available months are cut into chunks of at
    least window+1 months, the chunks shuffled with `seed` and dealt train/validation/test.

    Whole chunks keep the windows of test months out of the training months' neighbourhood,
    which is the point of chunking rather than drawing months.
    """
    available = np.asarray(available, bool)
    flags = np.zeros(available.shape, np.int8)
    size = window + 1
    chunks: list[np.ndarray] = []
    idx = np.flatnonzero(available)
    if idx.size == 0:
        return flags
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    for run in runs:
        n = max(1, len(run) // size)
        cuts = [run[i * size:(i + 1) * size] for i in range(n - 1)] + [run[(n - 1) * size:]]
        chunks.extend(cuts)
    order = np.random.default_rng(seed).permutation(len(chunks))
    n_train = int(round(fractions[0] * len(chunks)))
    n_val = int(round(fractions[1] * len(chunks)))
    for rank, k in enumerate(order):
        flags[chunks[k]] = TRAIN if rank < n_train else VAL if rank < n_train + n_val else TEST
    return flags


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
