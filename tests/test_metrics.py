import numpy as np
import pytest
import xarray as xr

from twsrecon.metrics import kge, nrmse, nse, pearson_r, rmse, score

OBS = np.array([1.0, 2.0, 3.0, 4.0])
SIM = np.array([1.5, 2.0, 2.5, 5.0])


def test_hand_computed_values():
    err = SIM - OBS  # 0.5, 0, -0.5, 1
    assert rmse(SIM, OBS) == pytest.approx(np.sqrt((0.25 + 0 + 0.25 + 1) / 4))
    assert nse(SIM, OBS) == pytest.approx(1 - 1.5 / 5.0)  # sum (o - 2.5)^2 = 5
    assert nrmse(SIM, OBS) == pytest.approx(np.sqrt(1.5 / 4) / 3.0)
    r = np.corrcoef(SIM, OBS)[0, 1]
    assert pearson_r(SIM, OBS) == pytest.approx(r)
    alpha = SIM.std() / OBS.std()
    beta = SIM.mean() / OBS.mean()
    assert kge(SIM, OBS) == pytest.approx(1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))
    assert np.all(err == SIM - OBS)


def test_nan_pairs_are_dropped():
    obs = np.array([1.0, np.nan, 2.0, 3.0, 4.0])
    sim = np.array([1.5, 9.0, 2.0, 2.5, 5.0])
    assert nse(sim, obs) == pytest.approx(nse(SIM, OBS))
    assert pearson_r(sim, obs) == pytest.approx(pearson_r(SIM, OBS))


def test_constant_and_all_nan_series_give_nan_not_zero():
    const = np.full(5, 2.0)
    varying = np.arange(5.0)
    assert np.isnan(nse(varying, const)) and np.isnan(nrmse(varying, const)) and np.isnan(pearson_r(varying, const))
    assert np.isnan(pearson_r(const, varying)) and np.isnan(kge(const, varying))
    nan = np.full(5, np.nan)
    for f in (pearson_r, nse, kge, rmse, nrmse):
        assert np.isnan(f(nan, varying)) and np.isnan(f(varying, nan))
    assert np.isnan(rmse(varying[:2], varying[:2]))  # fewer than 3 pairs


def test_score_on_xarray_per_cell():
    t = np.arange(4)
    obs = xr.DataArray(np.stack([OBS, OBS * 2]), dims=("cell", "time"), coords={"time": t})
    sim = xr.DataArray(np.stack([SIM, OBS * 2]), dims=("cell", "time"), coords={"time": t})
    s = score(sim, obs)
    assert s["nse"].values[1] == pytest.approx(1.0) and s["rmse"].values[1] == 0
    assert s["nse"].values[0] == pytest.approx(0.7)


def test_score_gives_nan_for_constant_and_all_nan_cells_not_a_crash():
    t = np.arange(6)
    obs = xr.DataArray(np.stack([np.arange(6.0), np.full(6, 3.0), np.full(6, np.nan)]), dims=("cell", "time"),
                       coords={"time": t})
    sim = xr.DataArray(np.stack([np.arange(6.0) + 1, np.arange(6.0), np.arange(6.0)]), dims=("cell", "time"),
                       coords={"time": t})
    s = score(sim, obs)
    assert s["rmse"].values[0] == pytest.approx(1.0) and s["r"].values[0] == pytest.approx(1.0)
    for m in ("r", "nse", "nrmse"):
        assert np.isnan(s[m].values[1])  # constant observations: undefined, not 0
    assert s["rmse"].values[1] == pytest.approx(np.sqrt(np.mean((np.arange(6.0) - 3) ** 2)))
    for m in ("r", "nse", "kge", "rmse", "nrmse"):
        assert np.isnan(s[m].values[2])
