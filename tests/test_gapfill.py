"""BCNN gap filling: detrending, inputs and masks, and the workflow's products on the tiny demo."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twsrecon.data.io import read_csv
from twsrecon.evaluation.baselines import linear_trend, trend_plus_season, trend_values
from twsrecon.gapfill.inputs import Standardiser, prepare_gapfill
from twsrecon.periods import GAP, in_periods


def test_detrend_retrend_round_trip():
    years = np.arange(100) / 12 + 2002
    rng = np.random.default_rng(0)
    slope_true = rng.normal(size=(3, 4))
    values = slope_true[None] * (years[:, None, None] - 2010) + 5 + np.sin(years)[:, None, None]
    use = np.ones(values.shape, bool)
    use[40:50] = False  # a gap
    slope, intercept = linear_trend(values, years, use)
    detrended = values - trend_values(slope, intercept, years)
    np.testing.assert_allclose(detrended + trend_values(slope, intercept, years), values)
    np.testing.assert_allclose(slope, slope_true, atol=0.05)
    values[45] = 1e9  # values outside `use` do not matter
    slope2, _ = linear_trend(values, years, use)
    np.testing.assert_allclose(slope2, slope)


def tiny_cube():
    time = pd.date_range("2000-01-01", "2021-12-01", freq="MS")
    rng = np.random.default_rng(1)
    shape = (len(time), 4, 5)
    ds = xr.Dataset(coords={"time": time, "lat": np.arange(4.0), "lon": np.arange(5.0)})
    for v in ("pcp", "tmp", "snow", "rad", "rh", "sif"):
        ds[v] = (("time", "lat", "lon"), rng.normal(size=shape))
    twsa = rng.normal(size=shape) + 0.1 * np.arange(len(time))[:, None, None]
    twsa[time < "2002-04-01"] = np.nan
    twsa[in_periods(time, [GAP])] = np.nan
    twsa[:, 0, 0] = np.nan  # ocean
    ds["twsa"] = (("time", "lat", "lon"), twsa)
    ds["land_mask"] = (("lat", "lon"), np.isfinite(twsa).any(0).astype(np.int8))
    return ds


def test_inputs_masks_and_experiments():
    data = prepare_gapfill(tiny_cube(), ["pcp", "sif"], [2, 1, 0], "evaluation")
    assert data.time[0] == pd.Timestamp("2002-04-01") and data.time[-1] == pd.Timestamp("2021-12-01")
    assert data.channels == ["pcp(t-2)", "pcp(t-1)", "pcp(t)", "sif(t-2)", "sif(t-1)", "sif(t)"]
    assert not data.mask[:, 0, 0].any() and (data.x[:, :, 0, 0] == 0).all()  # ocean: masked, zero input
    gap = in_periods(data.time, [GAP])
    assert not data.mask[gap].any()
    assert data.train.sum() == 144 and not (data.train & data.test).any()
    assert not data.test[gap].any()
    # lag t-1 of month k is lag t of month k-1
    np.testing.assert_array_equal(data.x[5, 1], data.x[4, 2])
    prod = prepare_gapfill(tiny_cube(), ["pcp"], [0], "production")
    assert prod.train.all() and not prod.test.any()
    np.testing.assert_allclose(np.nanstd(data.y[data.train][data.mask[data.train]]), 1.0, rtol=0.05)



def test_target_scaling_per_cell_or_global():
    cube = tiny_cube()
    cube["twsa"][:, 1, 1] *= 10.0  # one cell ten times as variable as the others
    cell = prepare_gapfill(cube, ["pcp"], [0], "evaluation", target_scaling="cell")
    glob = prepare_gapfill(cube, ["pcp"], [0], "evaluation")  # the default, as the published code
    train = cell.train[:, None, None] & cell.mask
    y = np.where(train, cell.y, np.nan)[:, cell.land]  # (T, land cells)
    # per cell: every land cell's training target has mean 0 and spread 1 on its own ...
    np.testing.assert_allclose(np.nanmean(y, 0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.nanstd(y, 0), 1.0, rtol=1e-4)
    # ... and its scale (what turns the network's noise into cm) is the cell's own spread in cm
    detrended = np.where(train, cell.observed - cell.trend, np.nan)
    np.testing.assert_allclose(cell.target_scaler.std[0][cell.land], np.nanstd(detrended[:, cell.land], 0), rtol=1e-6)
    assert cell.target_scaler.std[0, 1, 1] > 5 * np.median(cell.target_scaler.std[0][cell.land])
    # global: one scale for the grid, the pooled training spread
    assert glob.target_scaler.std.size == 1
    np.testing.assert_allclose(glob.target_scaler.std.item(), np.nanstd(detrended), rtol=1e-6)
    with pytest.raises(ValueError, match="target_scaling"):
        prepare_gapfill(cube, ["pcp"], [0], "evaluation", target_scaling="per_region")


def validation_holdout(cube, seed=3):
    """Every land cell's own 25-month validation blocks, as the stored split draws them (on the cube's months)."""
    rng = np.random.default_rng(seed)
    t, h, w = cube["twsa"].shape
    block = np.arange(t) // 25
    return rng.random((block.max() + 1, h, w))[block] < 0.25


def test_held_out_validation_months_are_never_seen_by_the_fit():
    """gapfill.calibration: validation. The held-out cell-months are out of the loss, the trend and the
    target's scaling: changing their TWSA changes nothing the fit trains on, nor its prediction."""
    from twsrecon.gapfill.experiment import fit_bcnn

    cube = tiny_cube()
    holdout = validation_holdout(cube)
    data = prepare_gapfill(cube, ["pcp", "tmp"], [1, 0], "production", target_scaling="cell", holdout=holdout)
    era = np.isin(cube["time"].values, data.time.values)
    assert data.holdout.any() and not (data.holdout & data.loss_mask).any()
    np.testing.assert_array_equal(data.holdout, holdout[era] & data.mask)
    np.testing.assert_array_equal(data.scored_mask, data.mask)  # held out of the fit, still scored
    changed = cube.copy(deep=True)
    changed["twsa"].values[holdout] += 50.0
    again = prepare_gapfill(changed, ["pcp", "tmp"], [1, 0], "production", target_scaling="cell", holdout=holdout)
    np.testing.assert_allclose(again.trend, data.trend)
    np.testing.assert_allclose(again.target_scaler.std, data.target_scaler.std)
    np.testing.assert_array_equal(np.where(data.loss_mask, again.y, 0), np.where(data.loss_mask, data.y, 0))
    kw = dict(particles=2, n_features=4, epochs=2, learning_rate=0.0025, batch_size=12, seed=0)
    mean, std, _ = fit_bcnn(data, **kw)
    mean2, std2, _ = fit_bcnn(again, **kw)
    np.testing.assert_allclose(mean2, mean, rtol=1e-5)
    np.testing.assert_allclose(std2, std, rtol=1e-5)
    # without the holdout the same change moves the fit
    seen = prepare_gapfill(changed, ["pcp", "tmp"], [1, 0], "production", target_scaling="cell")
    assert not np.allclose(seen.trend, data.trend)


def test_interval_factor_puts_95_percent_of_the_held_out_months_inside():
    from twsrecon.evaluation.metrics import Z95
    from twsrecon.gapfill.experiment import interval_factor

    cube = tiny_cube()
    data = prepare_gapfill(cube, ["pcp"], [0], "production", holdout=validation_holdout(cube))
    rng = np.random.default_rng(5)
    std = np.full(data.observed.shape, 2.0)
    mean = np.nan_to_num(data.observed) + rng.normal(0, 1.0, std.shape)  # errors half the stated spread
    factor, n = interval_factor(data, mean, std)
    assert n == (data.holdout & data.mask).sum()
    assert factor == pytest.approx(0.5, rel=0.1)  # the interval was twice too wide
    sel = data.holdout & data.mask
    inside = np.abs(mean - data.observed) <= Z95 * factor * std
    # each month's share of its cells inside, the months alike, at the months' finite-sample level
    share = np.array([inside[t][sel[t]].mean() for t in range(len(sel)) if sel[t].any()])
    assert share.mean() == pytest.approx(0.95 * (len(share) + 1) / len(share), abs=3 / n)
    data.holdout = np.zeros_like(data.holdout)
    with pytest.raises(ValueError, match="validation months"):
        interval_factor(data, mean, std)


def test_calibration_windows_are_holes_like_the_mission_gap():
    """Windows of `length` months, each with `length` observed-or-short-gap months on both sides inside the
    record, never next to the mission gap; the cells' test months calibrate nothing."""
    from twsrecon.gapfill.experiment import calibration_windows, window_holdout
    from twsrecon.periods import TEST, TRAIN, VAL

    time = pd.date_range("2000-01-01", "2021-12-01", freq="MS")
    observed = (time >= "2002-04-01") & ~((time >= "2017-07-01") & (time <= "2018-05-01"))
    observed &= ~time.isin(pd.to_datetime(["2011-01-01", "2011-06-01", "2012-05-01"]))  # single missing months
    win = calibration_windows(observed, 11)
    edges = np.flatnonzero(np.diff(np.r_[0, win.astype(int), 0]))
    starts, ends = time[edges[::2]], time[edges[1::2] - 1]
    assert list(starts.strftime("%Y-%m")) == ["2003-03", "2005-12", "2008-09", "2011-06", "2014-03", "2019-09"]
    assert ((edges[1::2] - edges[::2]) == 11).all()
    gap = np.flatnonzero(~observed & (time >= "2017-07-01"))
    assert np.abs(np.flatnonzero(win)[:, None] - gap[None]).min() > 11  # never within 11 months of the gap
    assert not win[time > "2021-01-01"].any()  # 11 months of record after the last
    flags = np.where(observed, TRAIN, 0)[:, None, None] * np.ones((1, 2, 3), np.int8)
    flags[(time >= "2004-01-01") & (time <= "2004-06-01"), 0, 0] = VAL
    flags[time == "2006-05-01", 1, 2] = TEST  # inside the second window for one cell
    held = window_holdout(flags, 11)
    second = (time >= "2005-12-01") & (time < "2006-11-01")
    assert not held[second, 1, 2].any() and held[second, 0, 0].all()  # that cell keeps the whole window
    np.testing.assert_array_equal(held[~second], (win[:, None, None] & (flags > 0))[~second])
    assert not (held & (flags == TEST)).any()


def test_per_cell_scaler_falls_back_to_the_global_scale_where_a_cell_has_too_few_months():
    values = np.full((10, 1, 3), np.nan)
    values[:, 0, 0] = np.arange(10.0)
    values[:2, 0, 1] = [5.0, 7.0]  # two months only
    scaler = Standardiser.per_cell(values)
    assert scaler.mean[0, 0, 0] == 4.5 and scaler.std[0, 0, 0] == pytest.approx(np.std(np.arange(10.0)))
    pooled = np.nanstd(values)
    assert scaler.std[0, 0, 1] == pytest.approx(pooled) and scaler.mean[0, 0, 1] == 0.0
    assert scaler.std[0, 0, 2] == pytest.approx(pooled) and scaler.mean[0, 0, 2] == 0.0  # no month at all


def test_test_month_scores_detrended_with_the_training_trend_and_with_all_months_trend():
    """A cell whose trend changes at the test period: the training-months trend misses it, the all-months
    trend (the paper's Table 1) absorbs part of it; each score variant uses its own trend."""
    from twsrecon.evaluation.baselines import decimal_years
    from twsrecon.gapfill.products import all_months_trend, score_test_months

    data = prepare_gapfill(tiny_cube(), ["pcp"], [0], "evaluation")
    years = decimal_years(data.time)
    observed = np.where(data.mask, data.observed + np.where(data.test, 2.0 * (years - 2014), 0.0)[:, None, None], np.nan)
    data.observed = observed
    paper = all_months_trend(data)
    slope, intercept = linear_trend(observed, years, data.mask)
    np.testing.assert_allclose(paper, trend_values(slope, intercept, years))
    rng = np.random.default_rng(0)
    sim = np.nan_to_num(observed) + rng.normal(0, 0.5, observed.shape)
    coords = xr.Dataset(coords={"lat": np.arange(observed.shape[1]), "lon": np.arange(observed.shape[2])})
    scores = score_test_months(data, sim, np.ones_like(sim), coords)
    sel = data.test[:, None, None] & data.loss_mask
    for label, trend in (("_detrended", data.trend), ("_detrended_all_months", paper)):
        ref = np.where(sel, observed - trend, np.nan)[:, 1, 1]
        s = np.where(sel, sim - trend, np.nan)[:, 1, 1]
        ok = np.isfinite(ref)
        expected = 1 - np.sum((s[ok] - ref[ok]) ** 2) / np.sum((ref[ok] - ref[ok].mean()) ** 2)
        assert scores[f"nse{label}"].values[1, 1] == pytest.approx(expected, rel=1e-6)
    # the two trends differ on the test months, so the two detrended scores do
    assert not np.isclose(scores["nse_detrended"].values[1, 1], scores["nse_detrended_all_months"].values[1, 1])

def test_trend_plus_season_baseline_reproduces_trend_and_cycle():
    time = pd.date_range("2002-04-01", "2021-12-01", freq="MS")
    years = time.year + (time.month - 0.5) / 12
    signal = 0.5 * (years - 2010) + 3 * np.sin(2 * np.pi * time.month / 12)
    obs = np.broadcast_to(np.asarray(signal)[:, None, None], (len(time), 2, 2)).copy()
    obs[100:110] = np.nan
    base = trend_plus_season(obs, time, np.ones(len(time), bool))
    np.testing.assert_allclose(base[100:110], np.broadcast_to(np.asarray(signal)[100:110, None, None],
                                                              (10, 2, 2)), atol=0.2)


@pytest.mark.integration
def test_bcnn_products_on_the_tiny_demo(tiny_run):
    bcnn = xr.open_dataset(tiny_run / "results/gapfill/bcnn.nc")
    cube = xr.open_dataset(tiny_run / "results/cube/cube.nc")
    assert bcnn["twsa"].attrs["units"] == "cm" and "code_version" in bcnn.attrs
    t = bcnn["time"].to_index()
    assert t[0] == pd.Timestamp("2002-04-01") and t[-1] == pd.Timestamp("2021-12-01")
    obs = cube["twsa"].sel(time=t)
    grace = bcnn["source"] == 0
    # GRACE where it has data, BCNN elsewhere, flagged.
    np.testing.assert_allclose(bcnn["twsa"].where(grace), obs.where(grace), rtol=1e-6)
    filled = bcnn["source"] == 1
    np.testing.assert_allclose(bcnn["twsa"].where(filled), bcnn["twsa_bcnn"].where(filled))
    gap = bcnn["mission_gap"].values == 1
    assert gap.sum() == 11 and (bcnn["source"].values[gap] != 0).all()
    land = cube["land_mask"].values == 1
    assert (bcnn["twsa_bcnn_std"].values[:, land] > 0).all()
    for exp in ("evaluation", "production"):
        for pset in ("all", "noSIF"):
            summary = read_csv(tiny_run / f"results/gapfill/{exp}/{pset}/summary.csv")
            assert not any(c.startswith("truth") for c in summary.columns)  # a fit never sees the truth
            # gapfill.calibration: validation: a fit without the validation months scaled the std
            assert np.isfinite(summary["interval_factor"].iloc[0]) and summary["interval_factor"].iloc[0] != 1.0
            # the held-out windows' skill, as made (gapfill.anchor: edges; shrunk for noSIF) and of the network alone
            held = summary[["median_nse_held_out", "median_nse_held_out_network"]].iloc[0]
            assert np.isfinite(held).all() and held.iloc[0] != held.iloc[1]
    assert "gap-like windows" in bcnn["twsa_bcnn_std"].attrs["comment"]
    assert "gapfill.anchor: edges" in bcnn["twsa_bcnn"].attrs["comment"]
    with xr.open_dataset(tiny_run / "results/gapfill/production/noSIF/bcnn.nc") as nosif:
        assert "shrunk by GRACE's stated error" in nosif["twsa_bcnn"].attrs["comment"]
    scores = xr.open_dataset(tiny_run / "results/gapfill/evaluation/all/scores.nc")
    for v in ("r", "nse", "nrmse", "r_detrended", "nse_detrended", "nrmse_detrended", "r_detrended_all_months",
              "nse_detrended_all_months", "nrmse_detrended_all_months", "coverage95"):
        assert np.isfinite(scores[v].values[land]).any(), v


def test_derived_predictors_cwsc_and_model_twsa():
    from twsrecon.data.derived import predictor_field

    cube = tiny_cube()
    with pytest.raises(ValueError, match="needs et, runoff"):
        predictor_field(cube, "cwsc")
    for v in ("et", "runoff", "storage"):
        cube[v] = cube["pcp"] * 0 + {"et": 0.01, "runoff": 0.02, "storage": 1.0}[v]
    cube["pcp"] = cube["pcp"] * 0 + 0.05
    cwsc = predictor_field(cube, "cwsc")
    np.testing.assert_allclose(cwsc[:, 1, 1], 0.02 * np.arange(1, cube.sizes["time"] + 1))
    # without its drift: a steady imbalance leaves nothing; a wet spell is a step that stays
    np.testing.assert_allclose(predictor_field(cube, "cwsc_dev")[:, 1, 1], 0.0, atol=1e-12)
    cube["pcp"][10:13] = 0.15
    dev = predictor_field(cube, "cwsc_dev")[:, 1, 1]
    n = cube.sizes["time"]
    np.testing.assert_allclose(dev, np.cumsum(np.where(np.isin(np.arange(n), [10, 11, 12]), 0.1, 0.0) - 0.3 / n),
                               atol=1e-12)
    cube["pcp"] = cube["pcp"] * 0 + 0.05
    cube["storage"] = cube["storage"] + xr.DataArray(np.arange(cube.sizes["time"]) / 100.0, dims="time")
    model = predictor_field(cube, "model_twsa")
    base = (cube["time"].to_index() >= "2004-01-01") & (cube["time"].to_index() <= "2009-12-01")
    np.testing.assert_allclose(model[base].mean(0), 0, atol=1e-9)  # anomaly relative to 2004-2009, in cm
    assert model[1, 1, 1] - model[0, 1, 1] == pytest.approx(1.0)


def test_bcnn_grid_domain_and_conservative_remaps():
    """The BCNN grid: the analysis rows inside gapfill.domain, coarsened to gapfill.resolution by area
    weights and back; the demo's case (same 1 deg grid, domain around it) is the identity."""
    from twsrecon.gapfill.inputs import bcnn_grid

    lat, lon = np.arange(56.25, 64, 0.5), np.arange(0.25, 4, 0.5)  # 0.5 deg, 56..64N
    g = bcnn_grid(lat, lon, 1.0, {"lat_min": -60, "lat_max": 60})
    assert g.grid.shape == (4, 4) and (g.grid.lat_min, g.grid.lat_max) == (56.0, 60.0)
    assert g.rows.tolist() == list(range(8)) and not g.identity
    rng = np.random.default_rng(0)
    field = rng.normal(size=(3, len(lat), len(lon)))
    field[0, 0, 0] = np.nan
    ds = xr.Dataset({"twsa": (("time", "lat", "lon"), field)},
                    coords={"time": pd.date_range("2002-01-01", periods=3, freq="MS"), "lat": lat, "lon": lon})
    coarse = g.coarsen(ds)["twsa"].values
    w = np.diff(np.sin(np.deg2rad(np.arange(56, 60.5, 0.5))))  # area weights of the fine rows
    block = field[1, 0:2, 0:2]
    expected = (w[0:2, None] * block).sum() / (2 * w[0:2].sum())
    assert coarse[1, 0, 0] == pytest.approx(expected)
    assert np.isfinite(coarse[0, 0, 0])  # 3 of 4 fine cells are enough
    back = g.refine(coarse, len(lat))
    assert back.shape == field.shape and np.isnan(back[:, 8:]).all()  # north of the domain: no BCNN
    np.testing.assert_allclose(back[1, 0:2, 0:2], expected)  # each fine cell takes its coarse cell's value
    # area-weighted means are conserved by the round trip
    area = w[:, None] * np.ones(len(lon))
    np.testing.assert_allclose((back[1, :8] * area).sum(), (field[1, :8] * area).sum())
    same = bcnn_grid(np.arange(30.5, 46), np.arange(-13.5, 14), 1.0, {"lat_min": -60, "lat_max": 84})
    assert same.identity and same.grid.shape == (16, 28)
    with pytest.raises(ValueError, match="finer than the analysis grid"):
        bcnn_grid(np.arange(30.5, 46), np.arange(-13.5, 14), 0.5, None)


def test_anchor_ties_each_hole_to_the_fits_error_at_its_edges():
    """gapfill.anchor: edges. Inside a hole the prediction moves by the mean error of the seen months on each
    side, interpolated linearly; seen months, one-sided ends and unseen GRACE values (held out) stay out."""
    from twsrecon.gapfill.experiment import anchor_to_edges

    t = np.arange(24, dtype=float)
    observed = np.stack([t, 2 * t], -1)[:, None, :]  # (T, 1, 2): a residual growing 1 / 2 cm a month
    mean = np.zeros_like(observed)
    seen = np.ones(observed.shape, bool)
    seen[6:17] = False  # an 11-month hole, as the gap
    seen[20:, 0, 1] = False  # the second cell's record ends early: no month after, nothing to tie to
    out, var = anchor_to_edges(mean, observed, seen, months=1)
    assert (var == 0).all()  # without GRACE's stated error the shift adds no variance
    np.testing.assert_allclose(out[6:17, 0, 0], t[6:17])  # a linear error is recovered exactly
    np.testing.assert_allclose(out[6:17, 0, 1], 2 * t[6:17])
    np.testing.assert_array_equal(out[seen], mean[seen])
    np.testing.assert_array_equal(out[20:, 0, 1], 0.0)
    # three months a side: the mean error of months 3-5 (4) and 17-19 (18), from their last / first month
    out3 = anchor_to_edges(mean, observed, seen, months=3)[0]
    np.testing.assert_allclose(out3[6:17, 0, 0], 4 + 14 * np.arange(1, 12) / 12)
    # what lies in the hole, GRACE values included, never enters
    changed = observed.copy()
    changed[6:17] += 100.0
    np.testing.assert_array_equal(anchor_to_edges(mean, changed, seen, months=3)[0], out3)


def test_shrunk_anchor_keeps_the_fits_own_error_and_leaves_grace_noise_out():
    """gapfill.anchor: shrunk. A cell whose residuals are GRACE's noise alone gets no shift (its edge error is
    noise); one whose residual is a large persistent error gets nearly all of it; the shift's GRACE error enters
    the variance, largest next to the edges."""
    from twsrecon.gapfill.experiment import anchor_to_edges

    rng = np.random.default_rng(0)
    n = 120
    noise = np.full((n, 1, 2), 1.5)
    observed = np.stack([rng.normal(0, 1.0, n),  # residual variance below GRACE's stated 1.5**2: noise only
                         10 * np.sin(np.arange(n) / 12) + rng.normal(0, 1.5, n)], -1)[:, None, :]
    mean = np.zeros_like(observed)
    seen = np.ones(observed.shape, bool)
    seen[50:61] = False
    edges, _ = anchor_to_edges(mean, observed, seen, months=1)
    out, var = anchor_to_edges(mean, observed, seen, months=1, noise=noise)
    np.testing.assert_array_equal(out[50:61, 0, 0], 0.0)  # nothing of the noisy cell's edge error is kept
    assert (var[50:61, 0, 0] == 0).all()
    kept = out[50:61, 0, 1] / edges[50:61, 0, 1]
    v = observed[seen[:, 0, 1], 0, 1].var() - 1.5 ** 2  # the persistent error's variance: v / (v + s2 / 1) kept
    np.testing.assert_allclose(kept, v / (v + 1.5 ** 2))
    assert 0.9 < kept[0] < 1.0
    assert var[50, 0, 1] > var[55, 0, 1] > 0 and var[60, 0, 1] > var[55, 0, 1]  # the middle is an average
    np.testing.assert_array_equal(var[seen], 0.0)
    np.testing.assert_array_equal(out[seen], mean[seen])


def test_shrunk_anchor_without_graces_stated_uncertainty_is_a_clear_error():
    """The shrinkage weighs each edge by GRACE's stated error: a mascon file without one stops the fit before it
    starts, saying what to use instead."""
    from twsrecon.gapfill.experiment import BCNNSettings, run_bcnn

    settings = BCNNSettings(lags=[0], particles=1, n_features=1, epochs=1, learning_rate=0.01, batch_size=1,
                            domain=None, resolution=1.0, ice_classes=[], bf16=False, target_scaling="cell",
                            noise="particle", latitude_weighting=False, lr_schedule="none", calibration="none",
                            calibration_months=11, anchor="shrunk", anchor_months=1)
    cube = xr.Dataset({"twsa": (("time", "lat", "lon"), np.zeros((2, 1, 1)))})
    with pytest.raises(ValueError, match="twsa_uncertainty.*use edges"):
        run_bcnn(cube, np.zeros((1, 1), bool), ["pcp"], "production", "all", settings, seed=0)
