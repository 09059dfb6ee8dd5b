"""Evaluation: aridity, baselines, per-period scores, aggregation, external products, the gap trend, the report."""

import base64
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import TINY_DEMO, run_snakemake

from twsrecon.data.grid import Grid
from twsrecon.data.io import read_csv
from twsrecon.errors import InputError
from twsrecon.evaluation import aridity
from twsrecon.evaluation.external import read_external
from twsrecon.evaluation.scores import BASELINES, METRICS, baselines, score_periods
from twsrecon.evaluation.tables import compare, comparison_pairs, medians, scored_months
from twsrecon.evaluation.trends import gap_trend
from twsrecon.periods import TEST, TRAIN, VAL

MONTHS = pd.date_range("2000-01-01", periods=48, freq="MS")


def field(values, time=MONTHS, lat=(10.5, 11.5), lon=(20.5,)):
    return xr.DataArray(np.asarray(values, float).reshape(len(time), len(lat), len(lon)), dims=("time", "lat", "lon"),
                        coords={"time": time, "lat": list(lat), "lon": list(lon)})


def test_aridity_classes_follow_the_bounds():
    ai = [0.0, 0.049, 0.05, 0.19, 0.2, 0.49, 0.5, 0.64, 0.65, 3.0, np.nan]
    assert list(aridity.class_names(aridity.classify(ai))) == ["HA", "HA", "A", "A", "SA", "SA", "SH", "SH", "H", "H", ""]


def test_oudin_pet_and_aridity_index():
    time = pd.date_range("2001-01-01", periods=24, freq="MS")
    warm = 288.15 + 10 * np.sin(2 * np.pi * (time.month.to_numpy() - 4) / 12)
    tmp = field(np.repeat(warm, 2), time=time, lat=(10.5, 60.5))
    pet = aridity.oudin_pet(tmp)
    assert (pet >= 0).all() and pet.sel(lat=10.5).mean() > pet.sel(lat=60.5).mean()  # more radiation nearer the equator
    july, january = pet.sel(lat=60.5, time="2001-07-01").item(), pet.sel(lat=60.5, time="2001-01-01").item()
    assert july > 3 * max(january, 1e-9)  # summer demand dominates at 60 N
    pcp = tmp * 0 + 0.05  # 50 mm per month
    p_yr, pet_yr, ai = aridity.aridity_index(pcp, pet)
    np.testing.assert_allclose(p_yr.values, 600.0)
    np.testing.assert_allclose(ai.values, (600.0 / pet_yr).values)
    frozen = tmp * 0 + 250.0  # always below -5 degC: no Oudin PET, so P/PET is infinite and the cell humid
    _, pet0, ai0 = aridity.aridity_index(pcp, aridity.oudin_pet(frozen))
    assert (pet0 == 0).all() and np.isinf(ai0).all()
    assert set(aridity.class_names(aridity.classify(ai0.values.ravel()))) == {"H"}


def test_priestley_taylor_pet_stays_positive_where_oudin_vanishes():
    """A cold, dry cell (-23 degC all year, a cold desert) is no longer "humid": its P/PET is finite."""
    time = pd.date_range("2001-01-01", periods=24, freq="MS")
    season = np.sin(2 * np.pi * (time.month.to_numpy() - 4) / 12)
    tmp = field(np.repeat(288.15 + 10 * season, 2), time=time, lat=(10.5, 60.5))
    days = time.days_in_month.to_numpy()[:, None, None]
    rad = tmp * 0 + (12e6 + 6e6 * season[:, None, None]) * days  # net shortwave J m-2 per month
    rh = tmp * 0 + 60.0
    pet = aridity.priestley_taylor_pet(tmp, rad, rh)
    assert (pet >= 0).all() and pet.sel(lat=10.5).sum() > pet.sel(lat=60.5).sum()  # less net longwave loss
    assert pet.sel(lat=10.5, time="2001-07-01").item() > pet.sel(lat=10.5, time="2001-01-01").item()
    cold = tmp * 0 + 250.0
    pcp = tmp * 0 + 0.005  # 5 mm per month: a cold desert
    _, pet_yr, ai = aridity.aridity_index(pcp, aridity.priestley_taylor_pet(cold, rad, rh))
    assert (pet_yr > 50).all() and np.isfinite(ai).all()
    assert aridity.oudin_pet(cold).sum() == 0  # where Oudin would have called it humid
    assert set(aridity.class_names(aridity.classify(ai.values.ravel()))) <= {"HA", "A", "SA"}


def test_baselines_never_see_test_months():
    rng = np.random.default_rng(0)
    obs = field(rng.normal(size=(48, 2, 1)) + np.arange(48)[:, None, None] * 0.1)
    split = xr.zeros_like(obs, dtype=np.int8) + TRAIN
    split[40:] = TEST
    a = baselines(obs, split)
    changed = obs.copy()
    changed[40:] += 100.0  # test months only
    b = baselines(changed, split)
    for name in BASELINES:
        np.testing.assert_allclose(a[name].values, b[name].values)
    # The climatology of a month is the mean of that calendar month over training months.
    jan = obs.values[[0, 12, 24, 36], 0, 0].mean()
    assert a["climatology"].values[0, 0, 0] == pytest.approx(jan)


def test_score_periods_use_their_own_months_and_references():
    truth = field(np.sin(np.arange(96) / 3.0))
    sim = truth.copy()
    sim[:24] += 5.0  # wrong in the first two years only
    split = xr.zeros_like(truth, dtype=np.int8)
    split[:24], split[24:] = TRAIN, TEST
    s = score_periods({"train": sim, "test": sim}, {"train": truth, "test": truth},
                         {"train": split == TRAIN, "test": split == TEST})
    assert s["nse"].sel(period="test").values == pytest.approx(np.ones((2, 1)))
    assert (s["rmse"].sel(period="train").values == pytest.approx(5.0))
    assert s["r"].sel(period="train").values == pytest.approx(np.ones((2, 1)))


def test_interval_coverage_is_scored_where_a_product_has_a_standard_deviation():
    truth = field(np.sin(np.arange(96) / 3.0))
    rng = np.random.default_rng(0)
    sim = truth + rng.normal(0, 1.0, truth.shape)
    months = xr.ones_like(truth, dtype=bool)
    for std, expected in ((1.0, 0.95), (0.5, 0.68), (3.0, 1.0)):
        s = score_periods({"gap": sim}, {"gap": truth}, {"gap": months}, {"gap": xr.full_like(truth, std)})
        assert s["coverage95"].values.mean() == pytest.approx(expected, abs=0.04)
    std = xr.full_like(truth, 1.0)
    std[:48] = np.nan  # no interval there: those months do not count
    s = score_periods({"gap": sim}, {"gap": truth}, {"gap": months}, {"gap": std})
    inside = (np.abs(sim - truth)[48:] <= 1.959964).mean("time")
    np.testing.assert_allclose(s["coverage95"].sel(period="gap").values, inside.values)
    assert "coverage95" not in score_periods({"gap": sim}, {"gap": truth}, {"gap": months})
    # the table pools the cell-months: cells with more months weigh more
    ds = s.assign(months=s["months"].copy(data=np.array([[[30], [10]]])),
                  coverage95=s["coverage95"].copy(data=np.array([[[1.0], [0.5]]])))
    table = medians({"P": ds}, np.array([["x"], ["x"]], dtype=object), ("x",), "region")
    assert table.set_index("region").loc["all", "coverage95"] == pytest.approx((30 + 5) / 40)


def test_coverage_factor_takes_the_observations_stated_noise_out():
    """Errors against noisy observations: with the noise stated, the factor is that of the true value's interval
    (1 for a well-stated std), and 95 % of the true values fall inside it; without, it widens to cover the noise."""
    from twsrecon.evaluation.metrics import Z95, coverage_factor

    rng = np.random.default_rng(0)
    n = 200_000
    std = rng.uniform(0.5, 4.0, n)  # the fit's stated spread of the true value, right on average
    truth_error = rng.normal(0.0, std)
    noise = np.full(n, 1.5)
    observed_error = truth_error + rng.normal(0.0, noise)
    with_noise = coverage_factor(observed_error, std, noise)
    assert with_noise == pytest.approx(1.0, abs=0.03)
    assert np.mean(np.abs(truth_error) <= Z95 * with_noise * std) == pytest.approx(0.95, abs=0.005)
    without = coverage_factor(observed_error, std)
    assert without > 1.2  # the small-std months' errors are mostly noise
    assert coverage_factor(observed_error, std, 0.0) == pytest.approx(without)
    # months as the units: a month with many cells counts as much as one with few, at the level (n + 1) / n
    month = np.repeat(np.arange(40), 5000)
    grouped = coverage_factor(observed_error, std, noise, groups=month)
    inside = np.abs(observed_error) <= Z95 * np.hypot(grouped * std, noise)
    assert inside.mean() == pytest.approx(0.95 * 41 / 40, abs=0.001)
    few = np.r_[np.zeros(199_000, int), np.arange(1, 1001)]  # one big month and 1000 one-cell months
    big = np.r_[np.full(199_000, 0.1), np.full(1000, 10.0)]
    assert coverage_factor(big, np.ones(n), groups=few) > 4  # the small months' errors decide, not the big one's
    assert coverage_factor(big, np.ones(n)) < 0.1
    # no month to calibrate on
    with pytest.raises(ValueError, match="no month"):
        coverage_factor(np.full(3, np.nan), np.ones(3), noise[:3])


def test_medians_per_group_and_comparisons_by_hand():
    r = np.array([[0.1, 0.5], [0.9, np.nan]])
    nse_a = np.array([[0.0, 0.2], [0.4, np.nan]])
    coords = {"period": ["test"], "lat": [0.5, 1.5], "lon": [0.5, 1.5]}

    def ds(r, nse, months=(12, 10, 8, 0), design="split"):
        out = xr.Dataset({m: (("period", "lat", "lon"), (r if m == "r" else nse if m == "nse" else r * 0)[None])
                          for m in METRICS}, coords=coords)
        out["months"] = (("period", "lat", "lon"), np.array(months).reshape(1, 2, 2))
        return out.assign_attrs(held_out_design=design)

    scores = {"A": ds(r, nse_a), "B": ds(r - 0.2, nse_a + 0.1), "C": ds(r, nse_a, (12, 9, 8, 0)),
              "other": ds(r, nse_a, design="BCNN periods")}
    labels = np.array([["x", "x"], ["y", ""]], dtype=object)
    table = medians(scores, labels, ("x", "y"), "region")
    a = table[table["product"] == "A"].set_index("region")
    assert a.loc["x", "r"] == pytest.approx(0.3) and a.loc["x", "cells"] == 2
    assert a.loc["y", "r"] == pytest.approx(0.9) and a.loc["all", "cells"] == 3
    cmp = compare(scores, [("test pair", "A", "B")]).set_index("metric")
    assert cmp.loc["r", "median_difference"] == pytest.approx(0.2) and cmp.loc["r", "share_a_better"] == 1.0
    assert cmp.loc["nse", "share_a_better"] == 0.0
    assert cmp.loc["rmse", "share_a_better"] == 0.0  # equal RMSE is not better
    assert (cmp["months_a"] == 30).all() and (cmp["months_b"] == 30).all() and cmp["same_months"].all()
    assert not compare(scores, [("p", "A", "C")])["same_months"].any()  # months differ in one cell: said
    assert compare(scores, [("p", "A", "other")]).empty  # another held-out design: no comparison on GRACE
    used = scored_months(scores).set_index("product")
    assert used.loc["A", "cell_months"] == 30 and used.loc["A", "cells"] == 3
    assert used.loc["A", "held_out_design"] == "split"


def test_comparison_pairs_cover_the_questions():
    pairs = comparison_pairs(["LSTM", "BiLSTM", "LSTMnoSIF", "BCNN_all", "climatology", "trend_season"])
    assert ("SIF vs noSIF", "LSTM", "LSTMnoSIF") in pairs
    assert ("LSTM vs BiLSTM", "LSTM", "BiLSTM") in pairs
    assert ("model vs baseline", "BCNN_all", "trend_season") in pairs
    assert ("reconstruction vs BCNN", "BiLSTM", "BCNN_all") in pairs


def test_external_product_from_the_real_reference_file(shared_data):
    path = shared_data / "reference-products" / "reconstructed_grace_tws_v1.nc"
    grid = Grid(1.0, 20, 24, 76, 80)
    da = read_external(path, None, grid)
    assert da.sizes == {"time": 244, "lat": 4, "lon": 4}
    assert pd.Timestamp(da["time"].values[0]) == pd.Timestamp("2002-04-01")
    assert pd.Timestamp(da["time"].values[-1]) == pd.Timestamp("2022-07-01")
    with xr.open_dataset(path) as raw:  # a 1 deg cell is the mean of four 0.5 deg cells (equal areas nearly)
        block = raw["lwe_thickness"].isel(time=0).sel(lat=[20.25, 20.75], lon=[76.25, 76.75]).values
    assert da.isel(time=0, lat=0, lon=0).item() == pytest.approx(np.nanmean(block), abs=0.01)
    # A domain reaching past the product: cells outside are NaN, not an error.
    part = read_external(path, "lwe_thickness", Grid(1.0, 30, 40, 70, 80))  # the product ends at 35.5 N
    assert np.isnan(part.sel(lat=39.5, lon=76.5)).all() and np.isfinite(part.sel(lat=30.5, lon=76.5)).all()
    with pytest.raises(InputError, match="does not overlap"):
        read_external(path, "lwe_thickness", Grid(1.0, 40, 44, -10, -6))


def test_external_product_without_time_units_is_a_clear_error(provider_data, tmp_path):
    src = provider_data / "reference-products" / "reconstructed_grace_tws_v1.nc"
    with xr.open_dataset(src, decode_times=False) as ds:
        ds = ds.load()
    ds["time"].attrs.pop("units")
    bad = tmp_path / "no_units.nc"
    ds.to_netcdf(bad)
    with pytest.raises(InputError) as err:
        read_external(bad, "lwe_thickness", Grid(1.0, 20, 24, 76, 80))
    assert "no_units.nc" in str(err.value) and "time" in str(err.value)
    ok = read_external(bad, "lwe_thickness", Grid(1.0, 20, 24, 76, 80), time_units="days since 2002-04-01")
    assert pd.Timestamp(ok["time"].values[1]) == pd.Timestamp("2002-05-01")
    ds["lwe_thickness"].attrs["units"] = "kg m-2"
    ds["time"].attrs["units"] = "days since 2002-04-01"
    ds.to_netcdf(tmp_path / "kg.nc")
    with pytest.raises(InputError, match="water thickness"):
        read_external(tmp_path / "kg.nc", "lwe_thickness", Grid(1.0, 20, 24, 76, 80))


def test_gap_trend_open_versus_filled():
    time = pd.date_range("2015-01-01", periods=48, freq="MS")  # the gap lies late in the record
    years = np.arange(48) / 12.0
    truth = field(np.repeat(2.0 * years, 2), time=time)
    grace = truth.copy()
    gap = (time >= "2017-07-01") & (time <= "2018-05-01")
    grace[gap] = np.nan
    filled = truth.copy()
    filled[gap] += 10.0  # a gap fill biased high late in the record steepens the trend
    t = gap_trend(grace, filled)
    assert t["trend_open"].values == pytest.approx(2.0)
    assert (t["trend_filled"].values > 2.5).all() and (t["trend_difference"].values > 0.5).all()
    assert t["trend_open"].attrs["units"] == "cm a-1"


# --- the workflow: tiny demo world moved over India, so the real reference product overlaps it ----------------

EVAL_DEMO = {
    **TINY_DEMO,
    "grid": {"resolution": 1.0, "lat_min": 20, "lat_max": 28, "lon_min": 76, "lon_max": 90},
    "demo": {"enabled": True, "seed": 7, "lat_min": 20, "lon_min": 76, "patch_degrees": 2},
    "regions": {"min_cells": 2, "include": ["temperate_nodrywarmsum", "arid_steppehot"]},
    "models": {"types": ["LSTM", "LSTMnoSIF"], "chunks": 1, "fits": 1, "epochs": 3, "patience": 2},
}
FIGURES = [f"maps_{m}_{p}.png" for m in ("r", "nse") for p in ("test", "pre_grace", "gap")] + [
    f"boxplot_{g}_{p}.png" for g in ("region", "aridity") for p in ("test", "pre_grace", "gap")] + [
    "timeseries_temperate_nodrywarmsum.png", "timeseries_arid_steppehot.png", "gap_mean_std.png", "gap_trend.png",
    "summary.png"]
TABLES = ["by_region.csv", "by_aridity.csv", "comparisons.csv", "scored_months.csv", "skill_table.csv",
          "external/shourya_vs_products.csv"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, shared_data):
    work = tmp_path_factory.mktemp("evaluation")
    ext = work / "inputs" / "reference.nc"
    ext.parent.mkdir()
    shutil.copy(shared_data / "reference-products" / "reconstructed_grace_tws_v1.nc", ext)
    cfg = {**EVAL_DEMO, "evaluation": {"external": {"shourya": {"path": str(ext)}},
                                       "timeseries_regions": ["temperate_nodrywarmsum", "arid_steppehot"]}}
    run_snakemake(work, config=cfg)
    run_snakemake(work, "--report", "report.html", config=cfg)
    return work


@pytest.mark.integration
def test_report_holds_every_figure_and_table(evaluated):
    html = (evaluated / "report.html").read_text()
    out = evaluated / "results" / "evaluation"
    for name in FIGURES:
        png = (out / "figures" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert base64.b64encode(png).decode() in html, name
    for name in TABLES:
        assert base64.b64encode((out / name).read_bytes()).decode() in html, name
    for caption_start in ("The project's skill benchmark", "Trend effect of the gap", "Median score per aridity class",
                          "Start with the one-screen summary", "The run on one screen"):
        assert caption_start in html


@pytest.mark.integration
def test_skill_table_scores_every_product_against_the_truth(evaluated):
    table = read_csv(evaluated / "results" / "evaluation" / "skill_table.csv")
    assert set(table["period"]) == {"pre_grace", "gap"}
    products = set(table["product"])
    assert {"LSTM", "LSTMnoSIF", "climatology", "trend_season", "BCNN_all", "BCNN_noSIF", "shourya"} <= products
    assert set(table[table["period"] == "pre_grace"]["product"]).isdisjoint({"BCNN_all", "BCNN_noSIF"})  # GRACE era only
    assert set(table["aridity_class"]) <= {"HA", "A", "SA", "SH", "H", "all"} and "all" in set(table["aridity_class"])
    assert table[["r", "nse", "kge", "rmse", "nrmse"]].notna().all().all()
    gap = table[(table["period"] == "gap") & (table["aridity_class"] == "all")].set_index("product")
    assert 0 <= gap.loc["BCNN_all", "coverage95"] <= 1 and np.isnan(gap.loc["LSTM", "coverage95"])  # no interval
    head = (evaluated / "results" / "evaluation" / "skill_table.csv").read_text().splitlines()[0]
    assert head.startswith("# workflow_config")  # provenance travels with the table


@pytest.mark.integration
def test_comparisons_are_on_the_same_months_on_both_sides(evaluated):
    out = evaluated / "results" / "evaluation"
    cmp = pd.read_csv(out / "comparisons.csv", comment="#")
    grace = cmp[cmp["period"].isin(["train", "validation", "test"])]
    assert {"SIF vs noSIF", "model vs baseline"} <= set(grace["comparison"])
    assert (grace["months_a"] == grace["months_b"]).all() and grace["same_months"].all() and (grace["months_a"] > 0).all()
    assert not (grace["a"].str.startswith("BCNN_") | grace["b"].str.startswith("BCNN_")).any()  # other months
    used = pd.read_csv(out / "scored_months.csv", comment="#")
    test = used[used["period"] == "test"].set_index("product")
    assert test.loc["LSTM", "held_out_design"].startswith("stored per-cell split: chunks of 25 GRACE months")
    assert test.loc["LSTM", "held_out_design"] == test.loc["climatology", "held_out_design"]
    assert test.loc["BCNN_all", "held_out_design"].startswith("BCNN evaluation fit")


@pytest.mark.integration
def test_scores_are_cf_netcdf_and_reconstructions_use_the_stored_split(evaluated):
    res = evaluated / "results"
    s = xr.open_dataset(res / "evaluation" / "scores" / "LSTM.nc")
    assert list(s["period"].values) == ["train", "validation", "test", "pre_grace", "gap", "gap_vs_bcnn"]
    assert s["rmse"].attrs["units"] == "cm" and s["r"].attrs["grid_mapping"] == "crs" and "code_version" in s.attrs
    rec = xr.open_dataset(res / "reconstruction" / "LSTM.nc")
    np.testing.assert_array_equal(rec["split"].values, xr.open_dataset(res / "split" / "split.nc")["split"].values)
    cube = xr.open_dataset(res / "cube" / "cube.nc")
    cell = np.argwhere(np.isfinite(s["r"].sel(period="test").values))[0]
    i, j = map(int, cell)
    split = rec["split"].values[:, i, j]
    months = rec["grace_time"].values[split == TEST]
    sim = rec["twsa"].sel(time=months).values[:, i, j]
    obs = cube["twsa"].sel(time=months).values[:, i, j]
    ok = np.isfinite(obs)
    assert s["r"].sel(period="test").values[i, j] == pytest.approx(np.corrcoef(sim[ok], obs[ok])[0, 1], abs=1e-5)
    assert (split == VAL).any() and (split == TRAIN).any()
    a = xr.open_dataset(res / "evaluation" / "aridity.nc")
    assert a["aridity_class"].attrs["flag_meanings"].startswith("unknown hyper_arid")
    forced = (cube["pcp"].notnull() & cube["tmp"].notnull()).sum("time") >= 12  # a year of forcing at least
    np.testing.assert_array_equal(a["aridity_class"].values >= 0, forced.values)
    # Priestley–Taylor PET (the default) is positive in every forced cell, the cold ones too: P/PET is finite
    assert (a["pet_annual"].values[forced.values] > 0).all() and "Priestley" in a.attrs["aridity_method"]
    np.testing.assert_array_equal(np.isfinite(a["aridity_index"].values), forced.values)


@pytest.mark.integration
def test_external_product_is_scored_per_region(evaluated):
    table = read_csv(evaluated / "results" / "evaluation" / "external" / "shourya_vs_products.csv")
    assert {"GRACE", "LSTM", "LSTMnoSIF", "BCNN_gapfilled"} <= set(table["reference"])
    assert (table["months"] > 100).all() and "all" in set(table["region"])
    ext = xr.open_dataset(evaluated / "results" / "evaluation" / "external" / "shourya.nc")
    assert ext["twsa"].attrs["units"] == "cm" and ext.sizes["time"] == 244


def test_external_product_may_not_take_an_own_products_name():
    from twsrecon.config import ConfigError, validate

    cfg = {"demo": {"enabled": True}, "evaluation": {"external": {"trend_season": {"path": "x.nc"}}}}
    with pytest.raises(ConfigError, match="config key 'evaluation.external': trend_season"):
        validate(cfg)


def test_aridity_map_from_a_geotiff(tmp_path):
    import rioxarray  # noqa: F401  (registers .rio)

    lat = np.arange(29.875, 20, -0.25)
    lon = np.arange(70.125, 80, 0.25)
    values = np.tile(np.linspace(100, 9000, lon.size), (lat.size, 1)).astype(np.float32)  # Global-AI x 1e4
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": lat, "x": lon}).rio.write_crs("EPSG:4326")
    path = tmp_path / "ai.tif"
    da.rio.to_raster(path)
    ai = aridity.read_aridity_map(path, None, 1e-4, Grid(1.0, 21, 29, 71, 79))
    assert ai.shape == (8, 8)
    blocks = np.array([values[0, 4 + 4 * k:8 + 4 * k].mean() for k in range(8)]) * 1e-4  # 1 deg = 4 x 0.25 deg
    np.testing.assert_allclose(ai.values, np.tile(blocks, (8, 1)), rtol=1e-5)
    assert list(aridity.class_names(aridity.classify(ai.values[0]))) == ["A", "SA", "SA", "SA", "SH", "SH", "H", "H"]
