"""Monthly time axes: every product is put on calendar months, stamped at the first of the month."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError


def months(start: str, end: str) -> pd.DatetimeIndex:
    """Month starts from 'YYYY-MM' to 'YYYY-MM' inclusive."""
    return pd.date_range(pd.Timestamp(start + "-01"), pd.Timestamp(end + "-01"), freq="MS")


def month_start(times) -> pd.DatetimeIndex:
    t = pd.DatetimeIndex(pd.to_datetime(np.asarray(times)))
    return pd.DatetimeIndex(t.to_period("M").to_timestamp(), name="time")


def days_in_month(times) -> np.ndarray:
    return pd.DatetimeIndex(times).days_in_month.to_numpy()


def monthly_stamps(times, path=None, variable=None) -> pd.DatetimeIndex:
    """Month starts for a time axis that must hold one value per calendar month.

    Daily or hourly data, or duplicated months, are an input error: the workflow is monthly.
    """
    stamps = month_start(times)
    if stamps.has_duplicates:
        n_dup = int(stamps.duplicated().sum())
        raise InputError(
            path,
            f"time axis is not monthly: {len(stamps)} time steps fall into {len(stamps) - n_dup} calendar months "
            "(daily or sub-daily data? expected monthly means)",
            variable,
        )
    return stamps


def require_coverage(stamps: pd.DatetimeIndex, wanted: pd.DatetimeIndex, path=None, variable=None) -> None:
    """A predictor must cover every month of the analysis period."""
    missing = wanted.difference(stamps)
    if len(missing):
        have = f"{stamps.min():%Y-%m}..{stamps.max():%Y-%m}" if len(stamps) else "no months"
        raise InputError(
            path,
            f"covers {have} but {len(missing)} month(s) of the analysis period "
            f"{wanted[0]:%Y-%m}..{wanted[-1]:%Y-%m} are missing (first: {missing[0]:%Y-%m})",
            variable,
        )
