"""Figures: the uncertainty of a regional mean, coastlines from the shipped land mask, named colour bars."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from twsrecon.evaluation import plots  # noqa: E402
from twsrecon.evaluation.trends import RegionalBand, regional_mean, regional_std  # noqa: E402


def field(values, lat, lon, time=None):
    dims, coords = ("lat", "lon"), {"lat": lat, "lon": lon}
    if time is not None:
        dims, coords = ("time", *dims), {"time": time, **coords}
    return xr.DataArray(np.asarray(values, float), dims=dims, coords=coords)


def test_regional_std_bounds_the_uncertainty_of_the_mean():
    lat, lon = np.array([0.25, 0.75]), np.array([10.25, 10.75])
    std = field(np.full((2, 2), 4.0), lat, lon)
    cells = np.ones((2, 2), bool)
    w = np.cos(np.deg2rad(lat))[:, None] * np.ones((2, 2))
    independent = float(regional_std(std, cells, correlated=False))
    # Var of sum w_i x_i / sum w_i with independent x_i: sum w_i^2 s_i^2 / (sum w_i)^2.
    assert independent == pytest.approx(4.0 * np.sqrt((w**2).sum()) / w.sum())
    assert independent == pytest.approx(2.0, rel=1e-4)  # four near-equal weights: sigma / sqrt(4)
    assert float(regional_std(std, cells, correlated=True)) == pytest.approx(4.0)
    one = cells & np.array([[True, False], [False, False]])
    assert float(regional_std(std, one, correlated=False)) == pytest.approx(4.0)  # one cell: both bounds agree
    # A cell without a value takes no weight (as in regional_mean).
    gappy = std.where(~np.array([[False, True], [True, True]]))
    assert float(regional_std(gappy, cells, correlated=False)) == pytest.approx(4.0)


def test_maps_draw_coastlines_from_the_shipped_land_mask_or_say_why_not():
    pytest.importorskip("global_land_mask")
    # The Strait of Gibraltar: land and sea in one small real domain.
    lat, lon = np.arange(34.25, 38.0, 0.5), np.arange(-8.75, -3.0, 0.5)
    da = field(np.random.default_rng(0).normal(size=(len(lat), len(lon))), lat, lon)
    fig, ax = plt.subplots()
    assert plots.coastlines(ax, lon, lat, True) is None
    assert len(ax.collections) == 1 and ax.collections[0].get_paths()  # the contour of the land mask
    plt.close(fig)
    fig, ax = plt.subplots()
    assert "synthetic" in plots.coastlines(ax, lon, lat, False) and not ax.collections
    plt.close(fig)
    fig, ax = plt.subplots()
    plots.field_axes(fig, ax, da, "mean TWSA (cm)", "RdBu_r", coast=True)
    assert fig.axes[-1].get_ylabel() == "mean TWSA (cm)"  # the colour bar names the quantity and its units
    plt.close(fig)


def test_timeseries_band_is_the_regional_mean_interval_and_titles_carry_the_period(tmp_path):
    time = pd.date_range("2017-01-01", periods=24, freq="MS")
    lat, lon = np.array([0.25, 0.75]), np.array([10.25, 10.75])
    mean = field(np.zeros((24, 2, 2)), lat, lon, time)
    std = field(np.full((24, 2, 2), 9.0), lat, lon, time)
    cells = np.ones((2, 2), bool)
    band = RegionalBand("BCNN", regional_mean(mean, cells), regional_std(std, cells, correlated=False),
                        regional_std(std, cells, correlated=True))
    fig, ax = plt.subplots()
    plots.timeseries_axes(ax, "somewhere", {"BCNN": band.mean}, band, gap=("2017-07-01", "2018-05-01"))
    lo, hi = ax.collections[0].get_paths()[0].vertices[:, 1].min(), ax.collections[0].get_paths()[0].vertices[:, 1].max()
    assert hi == pytest.approx(1.96 * 4.5, rel=1e-3) and lo == pytest.approx(-1.96 * 4.5, rel=1e-3)
    assert "2017-01…2018-12" in ax.get_title() and "cm" in ax.get_ylabel()
    assert "fully correlated: ±17.6 cm" in ax.get_legend_handles_labels()[1][0]
    plt.close(fig)
    plots.timeseries("somewhere", {"BCNN": band.mean}, band, tmp_path / "ts.png")
    assert (tmp_path / "ts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
