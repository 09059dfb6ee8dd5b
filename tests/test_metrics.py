import numpy as np
import pytest
import xarray as xr

from twsrecon.evaluation.metrics import kge, nrmse, nse, pearson_r, rmse, score

OBS = np.array([1.0, 2.0, 3.0, 4.0])
SIM = np.array([1.5, 2.0, 2.5, 5.0])


def test_hand_computed_values():
    # errors SIM - OBS: 0.5, 0, -0.5, 1 (squares sum to 1.5); OBS mean 2.5, anomalies -1.5, -0.5, 0.5, 1.5
    # (squares sum to 5); SIM mean 2.75, anomalies -1.25, -0.75, -0.25, 2.25 (squares sum to 7.25);
    # sum of the anomaly products 1.875 + 0.375 - 0.125 + 3.375 = 5.5.
    assert rmse(SIM, OBS) == pytest.approx(np.sqrt(1.5 / 4))
    assert nse(SIM, OBS) == pytest.approx(1 - 1.5 / 5.0)
    assert nrmse(SIM, OBS) == pytest.approx(np.sqrt(1.5 / 4) / 3.0)  # OBS range 4 - 1
    r = 5.5 / np.sqrt(5.0 * 7.25)
    assert pearson_r(SIM, OBS) == pytest.approx(r) and r == pytest.approx(0.913500, abs=1e-6)
    alpha, beta = np.sqrt(7.25 / 5.0), 2.75 / 2.5  # std ratio (the 1/n cancels), mean ratio
    assert kge(SIM, OBS) == pytest.approx(1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))
    assert kge(SIM, OBS) == pytest.approx(0.756765, abs=1e-6)
    # The metrics are not symmetric where they should not be: NSE and NRMSE against SIM as the reference.
    assert nse(OBS, SIM) == pytest.approx(1 - 1.5 / 7.25)
    assert nrmse(OBS, SIM) == pytest.approx(np.sqrt(1.5 / 4) / 3.5)


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
