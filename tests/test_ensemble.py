"""The ensemble's weights come from validation months only, and its mean and spread are the weighted mixture's."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twsrecon.evaluation.ensemble import (choose_power, combine, ensemble, error_variance, inverse_mse_weights,
                                         spread_factor)
from twsrecon.evaluation.metrics import Z95
from twsrecon.periods import TEST, TRAIN, VAL


def test_weights_are_inverse_validation_mse_and_ignore_other_months():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(40, 1, 2))
    months = np.zeros(obs.shape, bool)
    months[:20] = True
    good = obs + 0.1 * rng.normal(size=obs.shape)
    bad = obs + 0.3 * rng.normal(size=obs.shape)
    bad[20:] = obs[20:]  # perfect on the months that do not count: no weight from them
    w = inverse_mse_weights(np.stack([good, bad]), obs, months, min_months=6)
    mse = [np.mean((m[:20] - obs[:20]) ** 2, axis=0) for m in (good, bad)]
    expected = (1 / mse[0]) / (1 / mse[0] + 1 / mse[1])
    np.testing.assert_allclose(w[0], expected)
    np.testing.assert_allclose(w.sum(0), 1.0)
    assert (w[0] > 0.8).all()


def test_the_weight_power_is_chosen_by_cross_validation_on_the_validation_months():
    """Equally good members with independent errors are best averaged (a low power); one member far better
    than the rest, which share one error, is best alone (a high power). Months outside `months` never count."""
    time = pd.date_range("2002-01-01", periods=240, freq="MS")
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(240, 2, 3))
    months = np.broadcast_to((np.arange(240) % 3 == 0)[:, None, None], obs.shape)
    alike = np.stack([obs + rng.normal(size=obs.shape) for _ in range(4)])
    alike[:, ~months[:, 0, 0]] = 99.0  # garbage outside the validation months: it must not matter
    power, scores = choose_power(alike, obs, months, time)
    assert power <= 1.0 and scores[0.0] > scores[np.inf]
    shared = rng.normal(size=obs.shape)  # three similar models share their error: averaging them gains nothing
    one_good = np.stack([obs + 0.1 * rng.normal(size=obs.shape),
                         *(obs + shared + 0.05 * rng.normal(size=(3, *obs.shape)))])
    power, scores = choose_power(one_good, obs, months, time)
    assert power >= 2.0 and scores[power] > scores[1.0] > scores[0.0]
    w = inverse_mse_weights(one_good, obs, months, power=np.inf)
    assert (w[0] == 1).all() and (w[1:] == 0).all()


def test_too_few_validation_months_weigh_members_equally():
    obs = np.zeros((10, 1, 1))
    months = np.zeros(obs.shape, bool)
    months[:3] = True
    members = np.stack([obs + 1.0, obs + 3.0])
    np.testing.assert_allclose(inverse_mse_weights(members, obs, months, min_months=6)[:, 0, 0], [0.5, 0.5])


def test_combine_renormalises_missing_members_and_adds_member_variance():
    a = np.array([1.0, 1.0])[:, None, None]
    b = np.array([3.0, np.nan])[:, None, None]
    w = np.array([0.25, 0.75])[:, None, None]
    mean, spread = combine(np.stack([a, b]), w, variances=np.stack([np.zeros_like(a), np.full_like(b, 4.0)]))
    assert mean[0, 0, 0] == pytest.approx(0.25 * 1 + 0.75 * 3)
    assert spread[0, 0, 0] == pytest.approx(np.sqrt(0.25 * 1.5**2 + 0.75 * 0.5**2 + 0.75 * 4.0))
    assert mean[1, 0, 0] == pytest.approx(1.0) and spread[1, 0, 0] == pytest.approx(0.0)


def test_error_variance_is_the_out_of_sample_mse_less_graces_stated_error():
    """A reconstruction's variance in the gap: its MSE on the months its weight comes from, GRACE's error out."""
    rng = np.random.default_rng(1)
    observed = rng.normal(0.0, 5.0, (40, 2, 2))
    member = observed + rng.normal(0.0, 2.0, observed.shape)
    months = np.zeros(observed.shape, bool)
    months[::2] = True
    months[:, 1, 1] = False
    months[:3, 1, 1] = True  # three months only: too few to judge
    member[1::2] += 100.0  # the other months never enter
    mse = ((member - observed)[::2] ** 2).mean(0)
    var = error_variance(member[None], observed, months, min_months=6)[0]
    np.testing.assert_allclose(var[[0, 0, 1], [0, 1, 0]], mse[[0, 0, 1], [0, 1, 0]])
    assert var[1, 1] == 0.0
    less = error_variance(member[None], observed, months, 6, obs_error=np.full(observed.shape, 1.5))[0]
    np.testing.assert_allclose(less[0, 0], mse[0, 0] - 1.5**2)
    assert error_variance(member[None], observed, months, 6, obs_error=np.full(observed.shape, 9.0))[0, 0, 0] == 0.0


def test_spread_factor_widens_alike_members_to_cover_95_percent_of_validation_months():
    """Members that share most of their error disagree far less than they miss by: the factor brings 95 % of
    the validation months inside the interval (raised by the months' finite-sample correction), judged with
    weights from the other fold, and other months never count."""
    time = pd.date_range("2002-01-01", periods=240, freq="MS")
    rng = np.random.default_rng(3)
    obs = rng.normal(size=(240, 3, 4))
    months = np.broadcast_to((np.arange(240) % 4 == 0)[:, None, None], obs.shape)
    shared = rng.normal(size=obs.shape)
    members = obs + shared + 0.1 * rng.normal(size=(3, *obs.shape))
    members[:, ~months[:, 0, 0]] += 50.0  # far off outside the validation months: must not matter
    factor = spread_factor(members, obs, months, time, power=1.0)
    assert factor > 5
    inside = []
    even = months & (time.year % 2 == 0)[:, None, None]
    for fit, judge in ((even, months & ~even), (months & ~even, even)):
        mean, spread = combine(members, inverse_mse_weights(members, obs, fit, 3, 1.0))
        inside.append(np.abs(mean - obs)[judge] <= Z95 * factor * spread[judge])
    assert np.concatenate(inside).mean() == pytest.approx(0.95 * 61 / 60, abs=0.01)  # 60 validation months
    assert np.isnan(spread_factor(members[:1], obs, months, time, power=1.0))  # one member: no spread


def _grid(values, time, name="twsa"):
    lat, lon = np.array([10.5]), np.array([20.5, 21.5])
    return xr.Dataset({name: (("time", "lat", "lon"), values)}, coords={"time": time, "lat": lat, "lon": lon})


def test_ensemble_uses_the_bcnn_only_where_grace_is_missing(tmp_path):
    """Months with GRACE take the reconstructions alone; in the months without, the BCNN fits join, weighted on
    the validation months of the BCNN evaluation fit's test period, and the gap fill's own std widens the spread."""
    time = pd.date_range("2010-01-01", "2021-12-01", freq="MS")
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(len(time), 1, 2))
    grace = truth.copy()
    gap = (time >= "2017-07-01") & (time <= "2018-05-01")
    grace[gap] = np.nan
    cube = _grid(grace, time)
    cube["lat_bnds"] = (("lat", "bnds"), [[10.0, 11.0]])
    cube["lon_bnds"] = (("lon", "bnds"), [[20.0, 21.0], [21.0, 22.0]])
    cube["crs"] = xr.DataArray(0, attrs={"grid_mapping_name": "latitude_longitude"})
    cube.to_netcdf(tmp_path / "cube.nc")
    flags = np.where(np.arange(len(time)) % 3 == 0, VAL, np.where(np.arange(len(time)) % 3 == 1, TRAIN, TEST))
    flags = np.where(np.isfinite(grace), flags[:, None, None], 0).astype(np.int8)
    _grid(flags, time, "split").rename(time="grace_time").to_netcdf(tmp_path / "split.nc")
    _grid(truth + 0.5 * rng.normal(size=truth.shape), time).to_netcdf(tmp_path / "a.nc")
    _grid(truth + 1.0 * rng.normal(size=truth.shape), time).to_netcdf(tmp_path / "b.nc")
    fit = _grid(truth + 0.05 * rng.normal(size=truth.shape), time, "twsa_bcnn")
    fit["twsa_bcnn_std"] = xr.full_like(fit["twsa_bcnn"], 0.2)
    fit.to_netcdf(tmp_path / "bcnn.nc")
    ds = ensemble(tmp_path / "cube.nc", tmp_path / "split.nc", {"A": tmp_path / "a.nc", "B": tmp_path / "b.nc"},
                  {"all": tmp_path / "bcnn.nc"}, {"all": tmp_path / "bcnn.nc"})
    a = xr.open_dataset(tmp_path / "a.nc")["twsa"].values
    b = xr.open_dataset(tmp_path / "b.nc")["twsa"].values
    w = ds["weight"].values
    assert (w[0] > w[1]).all()
    observed = ~gap
    np.testing.assert_allclose(ds["twsa"].values[observed], (w[0] * a + w[1] * b)[observed], rtol=1e-5)
    assert ds["uses_bcnn"].values[gap].all() and not ds["uses_bcnn"].values[observed].any()
    wg = ds["gap_weight"].values
    assert list(ds["gap_member"].values) == ["A", "B", "BCNN_all"] and (wg[2] > 0.9).all()
    err_gap = np.abs(ds["twsa"].values[gap] - truth[gap]).mean()
    assert err_gap < np.abs(a[gap] - truth[gap]).mean() / 3
    assert (ds["twsa_spread"].values[gap] >= 0.2 * np.sqrt(wg[2]) - 1e-6).all()
