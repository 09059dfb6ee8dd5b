"""The GR*Ai*CE modelling chain: tuning behaviour and the chain end to end in the workflow."""

import os
import signal
import subprocess
import time

import numpy as np
import optuna
import pytest
import torch
import xarray as xr
from conftest import REPO, SHARED_DATA, SNAKEMAKE, TINY_DEMO, run_snakemake, sha256

from twsrecon.data.io import read_csv, read_json
from twsrecon.periods import TEST, TRAIN, VAL
from twsrecon.reconstruction.features import draw_split
from twsrecon.reconstruction.training import TrainSettings, resolve_device
from twsrecon.reconstruction.tuning import finished_trials, open_study, tune, tune_hyperparameters

SPACE = {"units": [4, 8], "window": [3, 6], "window_step": 3, "learning_rate": [1e-3, 1e-2], "n_layers": [1, 2],
         "n_units": [2, 8]}


def small_region(n_cells=3, seed=0):
    """Predictors, TWSA and the stored split of a few cells."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_cells, 300, 5))
    y = np.cumsum(x[..., 0], axis=1) * 0.3
    y[:, :100] = np.nan
    y[:, 180:190] = np.nan  # missing months inside the GRACE era
    return x, y, draw_split(y, 25, seed, history=24)


def test_tuning_never_trains_or_validates_on_a_stored_test_month(tmp_path):
    """5 trials with windows 3 and 24: what the trainer receives never holds a test month of the stored split."""
    x, y, flags = small_region()
    seen = []

    def on_masks(train_mask, val_mask, pooled_flags):
        seen.append((train_mask, val_mask, pooled_flags))

    space = {**SPACE, "window": [3, 24], "window_step": 21}
    tune_hyperparameters(tmp_path / "s.journal", "s", x, y, flags, "LSTM", n_trials=5, space=space, seed=3,
                         settings=TrainSettings(epochs=2, patience=2), include_current=False, on_masks=on_masks)
    study = open_study(tmp_path / "s.journal", "s", 3)
    assert {t.params["window"] for t in study.trials} == {3, 24}
    assert len(seen) == 5
    pooled = flags.reshape(1, -1)
    for train_mask, val_mask, got in seen:
        np.testing.assert_array_equal(got, pooled)  # the stored split, not one drawn from the trial's window
        assert not (train_mask & (pooled == TEST)).any() and not (val_mask & (pooled == TEST)).any()
        np.testing.assert_array_equal(train_mask, pooled == TRAIN)
        np.testing.assert_array_equal(val_mask, pooled == VAL)


def test_killed_tuning_reruns_only_the_missing_trials(tmp_path):
    x, y, flags = small_region()
    path = tmp_path / "study.journal"
    settings = TrainSettings(epochs=3, patience=2)
    tune_hyperparameters(path, "r-study_OPTUNA_LSTM", x, y, flags, "LSTM", n_trials=2, space=SPACE, seed=1,
                         settings=settings, include_current=False)
    study = open_study(path, "r-study_OPTUNA_LSTM", 1)
    study.ask()  # a trial the killed job never finished
    calls = []

    def objective(trial):
        calls.append(trial.number)
        return float(trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True))

    study = open_study(path, "r-study_OPTUNA_LSTM", 1)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1  # the stale RUNNING trial
    tune(study, 4, objective)
    assert len(calls) == 2 and finished_trials(study) == 4


def test_pruner_receives_every_epoch(tmp_path):
    x, y, flags = small_region()
    tune_hyperparameters(tmp_path / "s.journal", "s", x, y, flags, "BiLSTM", n_trials=3, space=SPACE, seed=2,
                         settings=TrainSettings(epochs=4, patience=10), include_current=False)
    study = open_study(tmp_path / "s.journal", "s", 2)
    for t in study.trials:
        assert len(t.intermediate_values) >= 1
    assert max(len(t.intermediate_values) for t in study.trials) == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_fits_combine_by_validation_months_only():
    """combine_fits: 'mean' predicts the average of the fits, 'best' the lowest-validation-loss fit, and
    'validation' picks, per cell, the one of the two with the lower validation MSE; test months never decide."""
    from twsrecon.reconstruction.fitting import fit_cells, masked_mse
    from twsrecon.reconstruction.hyperparameters import Hyperparameters

    x, y, flags = small_region(n_cells=4)
    hp = Hyperparameters(units=4, window=3, learning_rate=1e-2, n_layers=1, n_units=(4,), source="test")
    settings = TrainSettings(epochs=6, patience=3, batch_size=32)
    kw = dict(fits=3, seed=1, settings=settings)
    res = {c: fit_cells(x, y, flags, np.arange(4), hp, "LSTM", combine=c, **kw) for c in ("best", "mean", "validation")}
    val = res["best"].prepared.mask(VAL)
    yv = res["best"].prepared.y
    scaled = {c: res[c].prepared.y_scaler.transform(res[c].prediction - res[c].prepared.offset[:, None]) for c in res}
    loss = {c: masked_mse(scaled[c], yv, val & np.isfinite(scaled[c])) for c in res}
    np.testing.assert_allclose(loss["best"], res["best"].val_loss, rtol=1e-3)
    assert not res["best"].mean_of_fits.any() and res["mean"].mean_of_fits.all()
    pick = loss["mean"] < loss["best"]
    np.testing.assert_array_equal(res["validation"].mean_of_fits, pick)
    np.testing.assert_allclose(res["validation"].prediction,
                               np.where(pick[:, None], res["mean"].prediction, res["best"].prediction), rtol=1e-5)
    # every fit's weights are kept, cell x fit
    from twsrecon.reconstruction.models import model_axis

    assert {t.shape[model_axis(n)] for n, t in res["mean"].weights.items()} == {12}
    assert {t.shape[model_axis(n)] for n, t in res["mean"].weights_of([2]).items()} == {3}
    # changing test-month targets changes nothing of the choice
    y2 = np.where(flags == TEST, y + 5.0, y)
    again = fit_cells(x, y2, flags, np.arange(4), hp, "LSTM", combine="validation", **kw)
    np.testing.assert_array_equal(again.mean_of_fits, res["validation"].mean_of_fits)


def test_cuda_without_gpu_is_an_error():
    with pytest.raises(RuntimeError, match="no GPU"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="set gapfill.device: cpu"):  # the key the user must change
        resolve_device("cuda", key="gapfill.device")


CHAIN = {
    **TINY_DEMO,
    "regions": {"min_cells": 2, "include": ["temperate_nodrywarmsum", "polar_tundra"]},
    "models": {"types": ["LSTM", "BiLSTMnoSIF"], "chunks": 2, "fits": 2, "epochs": 12, "patience": 4,
               "pcc_threshold": 0.97},
    "hyperparameters": {"source": "tune", "trials": 3, "epochs": 6, "patience": 3, "cells": 2, "lr_trials": 2,
                        "search_space": {"units": [4, 12], "window": [3, 6], "n_units": [2, 8]}},
}


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("chain")
    run_snakemake(work, config=CHAIN)
    return work


@pytest.mark.integration
def test_chain_end_to_end(chain_run):
    w = chain_run
    for model in ("LSTM", "BiLSTMnoSIF"):
        rec = xr.open_dataset(w / f"results/reconstruction/{model}.nc")
        t = rec["time"].to_index()
        assert (t[0], t[-1]) == (np.datetime64("1984-01-01"), np.datetime64("2021-12-01"))
        assert rec["twsa"].attrs["units"] == "cm" and "code_version" in rec.attrs
        assert np.isfinite(rec["twsa"]).any()
        for region in CHAIN["regions"]["include"]:
            hp = read_json(w / f"results/hyperparameters/{model}/{region}.json")
            assert hp["hyperparameters"]["source"].startswith("tuned")
            study = optuna.load_study(study_name=f"{region}-study_OPTUNA_{model}", storage=optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(str(w / f"results/optuna/{model}/{region}.journal"))))
            assert finished_trials(study) == 3
            chunks = [xr.open_dataset(w / f"results/training/{model}/{region}/chunk{c}.nc") for c in (0, 1)]
            final = xr.open_dataset(w / f"results/training/{model}/{region}/final.nc")
            stored = xr.open_dataset(w / f"results/split/{region}.nc")["split"].sel(cell=final["cell"])
            # The split drawn once before tuning is what every chunk trained on and what the product carries.
            for c in chunks:
                np.testing.assert_array_equal(c["split"].values, stored.sel(cell=c["cell"]).values)
            np.testing.assert_array_equal(final["split"].values, stored.values)
            i, j = np.divmod(final["cell"].values, rec.sizes["lon"])
            grace = rec["grace_time"].to_index()
            first = final["time"].to_index().get_loc(grace[0])
            np.testing.assert_array_equal(rec["split"].values[:, i, j].T,
                                          final["split"].values[:, first:first + len(grace)])
            old = xr.concat([c["pcc_train_validation"] for c in chunks], "cell").values
            new = final["pcc_train_validation"].values
            assert (np.nan_to_num(new, nan=-2) >= np.nan_to_num(old, nan=-2)).all()  # kept only if improved
            low = read_csv(w / f"results/training/{model}/{region}/low_pcc.csv")
            assert set(low["cell"]) == set(final["cell"].values[~(old >= 0.97)])
            kept = final["retrained"].values == 1
            assert (final["learning_rate"].values[kept] != hp["hyperparameters"]["learning_rate"]).all()
        assert "validation months of the stored split" in rec.attrs["hyperparameter_selection"]
        skill = read_csv(w / f"results/reconstruction/{model}_skill.csv")
        assert skill.iloc[-1]["region"] == "all"
        assert skill.iloc[-1]["median_test_pcc"] > skill.iloc[-1]["median_test_pcc_climatology"]


@pytest.mark.integration
def test_every_model_type_carries_the_one_stored_split(chain_run):
    grid = xr.open_dataset(chain_run / "results/split/split.nc")["split"]
    assert {int(v) for v in np.unique(grid)} == {0, 1, 2, 3}
    for model in ("LSTM", "BiLSTMnoSIF"):
        rec = xr.open_dataset(chain_run / f"results/reconstruction/{model}.nc")
        np.testing.assert_array_equal(rec["split"].values, grid.values)


@pytest.mark.integration
def test_dry_run_shows_the_fan_out(tmp_path):
    proc = run_snakemake(tmp_path, "-n", config={**CHAIN, "regions": {"min_cells": 2}})
    counts = dict(line.split() for line in proc.stdout.splitlines()
                  if line.split()[:1] and line.split()[0] in ("hyperparameters", "train_chunk", "retune_lr")
                  and len(line.split()) == 2)
    assert counts == {"hyperparameters": "56", "train_chunk": "112", "retune_lr": "56"}


@pytest.mark.integration
def test_killed_training_job_is_completed_by_a_rerun(tmp_path):
    cfg = {**CHAIN, "regions": {"min_cells": 2, "include": ["polar_tundra"]}, "models": {**CHAIN["models"],
           "types": ["LSTM"], "epochs": 200, "patience": 200}}
    import yaml

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
           "--configfile", str(tmp_path / "config.yaml")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = tmp_path / "logs/train_chunk/LSTM/polar_tundra/chunk0.log"
    deadline = time.time() + 300
    while not (log.exists() and "training" in log.read_text()) and time.time() < deadline:
        time.sleep(0.5)
    assert log.exists(), "the training job never started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results/reconstruction/LSTM.nc").exists()
    # What a user does after a hard kill: release the lock, run the same command again.
    run_snakemake(tmp_path, "--unlock", config=cfg)
    run_snakemake(tmp_path, "--rerun-incomplete", config=cfg)
    assert (tmp_path / "results/reconstruction/LSTM.nc").exists()
    assert (tmp_path / "results/training/LSTM/polar_tundra/chunk0.nc").exists()
    # the job log shows progress (issue 15): epochs, models running / done, elapsed, what remains
    text = log.read_text()
    assert "training: epoch 1/200, models running" in text and "elapsed 0:" in text and "remaining at most" in text


@pytest.mark.integration
def test_published_hyperparameters_in_the_workflow(tmp_path):
    if not (SHARED_DATA / "graice-hyperparameters").is_dir():
        pytest.skip(f"published studies not found under {SHARED_DATA}")
    from twsrecon.reconstruction.hyperparameters import published_study_path, read_published

    pub = SHARED_DATA / "graice-hyperparameters"
    region = "polar_tundra"
    files = [published_study_path(pub, region, "LSTM"), published_study_path(pub, region, "LSTM", lr=True)]
    before = [sha256(f) for f in files if f.exists()]
    cfg = {**CHAIN, "regions": {"min_cells": 2, "include": [region]},
           "models": {**CHAIN["models"], "types": ["LSTM"]},
           "hyperparameters": {**CHAIN["hyperparameters"], "source": "published", "published_dir": str(pub)}}
    run_snakemake(tmp_path, f"results/hyperparameters/LSTM/{region}.json", config=cfg)
    got = read_json(tmp_path / f"results/hyperparameters/LSTM/{region}.json")["hyperparameters"]
    expected = read_published(pub, region, "LSTM", tmp_path / "work").to_dict()
    assert got == expected
    assert [sha256(f) for f in files if f.exists()] == before


def test_trials_log_their_duration_and_the_study_its_progress(tmp_path, caplog):
    """Each trial logs its duration and state; the study logs its progress (first and last trial here)."""
    import optuna

    from twsrecon.reconstruction.tuning import open_study, tune

    study = open_study(tmp_path / "study.log", "progress", seed=1)

    def objective(trial):
        x = trial.suggest_float("x", -1, 1)
        if trial.number == 1:
            raise optuna.TrialPruned()
        return x * x

    with caplog.at_level("INFO", logger="twsrecon.reconstruction.tuning"):
        tune(study, 3, objective)
    lines = [r.getMessage() for r in caplog.records if r.name == "twsrecon.reconstruction.tuning"]
    trials = [line for line in lines if line.startswith("trial ")]
    assert len(trials) == 3 and "trial 1 pruned in" in trials[1] and " s (validation MSE " in trials[0]
    progress = [line for line in lines if line.startswith("study progress: trial")]
    assert progress[0].startswith("study progress: trial 1/3") and "elapsed" in progress[0]
    assert progress[-1].startswith("study progress: trial 3/3") and progress[-1].endswith("finished")


def test_lr_trials_at_once_equal_trials_one_by_one(tmp_path):
    """Trials asked together and trained as one batched model (ask/tell) get the values the same trials
    (same number, so the same seed; same learning rate) get alone; the study resumes where it stopped."""
    from twsrecon.reconstruction.hyperparameters import Hyperparameters
    from twsrecon.reconstruction.tuning import pooled_validation_loss, tune_learning_rate

    x, y, flags = small_region()
    hp = Hyperparameters(units=5, window=3, learning_rate=3e-3, n_layers=1, n_units=(4,), source="test")
    settings = TrainSettings(epochs=6, patience=2)
    kw = dict(seed=3, settings=settings, include_current=False)
    tune_learning_rate(tmp_path / "lr.journal", "lr", x, y, flags, hp, "LSTM", n_trials=3, trials_at_once=3, **kw)
    batched = open_study(tmp_path / "lr.journal", "lr", 3)
    assert finished_trials(batched) == 3
    alone = optuna.create_study()
    for t in sorted(batched.trials, key=lambda t: t.number):
        alone.enqueue_trial(t.params)
        trial = alone.ask()
        lr = trial.suggest_float("learning_rate", 3e-6, 3e-2, log=True)
        assert trial.number == t.number and lr == t.params["learning_rate"]
        value = pooled_validation_loss(trial, x, y, flags, hp, "LSTM", learning_rate=lr, **kw)
        assert value == pytest.approx(t.value, rel=1e-4)
        assert len(t.intermediate_values) == len(trial.storage.get_trial(trial._trial_id).intermediate_values)
    tune_learning_rate(tmp_path / "lr.journal", "lr", x, y, flags, hp, "LSTM", n_trials=5, trials_at_once=3, **kw)
    assert finished_trials(open_study(tmp_path / "lr.journal", "lr", 3)) == 5  # only the 2 missing ran


def test_target_trend_fit_on_training_months_held_or_extended_before_grace():
    """models.trend: the slope comes from the training months only; `hold` and `extrapolate` agree from the
    first GRACE month on and differ only before it; `none` leaves the target as it is."""
    from twsrecon.reconstruction.fitting import prepare, target_trend

    n_time = 120
    t = np.arange(n_time, dtype=float)
    twsa = np.where(t >= 40, 0.5 * (t - 40), np.nan)[None].repeat(2, 0)
    train = np.zeros(twsa.shape, bool)
    train[:, 40:90] = True
    twsa_test = twsa.copy()
    twsa_test[:, 90:] += 100.0  # test months off the line: they must not move the slope
    hold, slope = target_trend(twsa_test, train, "hold")
    ext, _ = target_trend(twsa_test, train, "extrapolate")
    np.testing.assert_allclose(slope, 0.5)
    np.testing.assert_allclose(hold[:, 40:], ext[:, 40:])
    assert (hold[:, :40] == 0).all() and ext[0, 0] == pytest.approx(-20.0)
    none, zero = target_trend(twsa, train, "none")
    assert not none.any() and not zero.any()
    with pytest.raises(ValueError, match="models.trend"):
        target_trend(twsa, train, "quadratic")
    flags = np.where(train, TRAIN, np.where(np.isfinite(twsa), TEST, 0)).astype(np.int8)
    x = np.random.default_rng(0).normal(size=(2, n_time, 3))
    prep = prepare(x, twsa, 3, flags, trend="hold")
    # the detrended target of a straight line is flat, and to_cm gives the line back
    assert np.nanstd(prep.y_scaler.inverse(prep.y)[:, 40:]) < 1e-4
    np.testing.assert_allclose(prep.to_cm(prep.y)[:, 40:], twsa[:, 40:], atol=1e-4)


def test_backcast_cuts_each_cells_first_grace_years_and_judges_them_without_test_months():
    """The record of a backcast fit begins `years` after each cell's own first GRACE month; the months cut are
    judged, except test months; a trend held before the record is then held before the cut."""
    from twsrecon.periods import NONE, TEST, TRAIN, VAL
    from twsrecon.reconstruction.fitting import backcast, target_trend

    t = np.arange(100)
    twsa = np.stack([np.where(t >= 10, 0.5 * t, np.nan), np.where(t >= 30, 0.5 * t, np.nan)])
    flags = np.where(np.isfinite(twsa), np.where(t % 5 == 0, VAL, TRAIN), NONE).astype(np.int8)
    flags[0, 12] = TEST
    y, f, judged = backcast(twsa, flags, 2)
    assert np.isnan(y[0, :34]).all() and np.isfinite(y[0, 34:]).all()
    assert np.isnan(y[1, :54]).all() and np.isfinite(y[1, 54:]).all()
    assert (f[0, 10:34] == NONE).all() and (f[0, 34:] == flags[0, 34:]).all()
    assert judged[0].sum() == 23 and not judged[0, 12] and judged[1].sum() == 24
    held, _ = target_trend(y, f == TRAIN, "hold")
    np.testing.assert_array_equal(held[0, :35], 0.0)  # the fit's record begins at the cut: held before it


def test_regional_start_is_trained_on_pooled_training_months_and_starts_every_cell():
    """models.start regional: the regional models see the pooled cells' training months only (a test month
    changed changes nothing), and fit k of every cell starts from regional model k (with a learning rate that
    moves nothing, each cell's fit k keeps exactly its regional model's weights)."""
    from twsrecon.reconstruction.fitting import fit_cells, prepare, regional_start
    from twsrecon.reconstruction.hyperparameters import Hyperparameters
    from twsrecon.reconstruction.models import model_axis

    x, y, flags = small_region(n_cells=3)
    hp = Hyperparameters(units=4, window=3, learning_rate=3e-3, n_layers=1, n_units=(3,), source="test")
    settings = TrainSettings(epochs=4, patience=2)
    start = regional_start(prepare(x, y, 3, flags), hp, "LSTM", 2, 7, hp.learning_rate, settings, "cpu")
    moved = np.where(flags == TEST, y + 50.0, y)
    again = regional_start(prepare(x, moved, 3, flags), hp, "LSTM", 2, 7, hp.learning_rate, settings, "cpu")
    # the target scaler is fit on training months only, so moving test months leaves every input alike
    for name in start:
        torch.testing.assert_close(start[name], again[name])
    assert not torch.equal(start["w_ih"][:, 0], start["w_ih"][:, 1])  # the two fits stay distinct
    # a learning rate that moves nothing: the regional models stay at their start and so do the cells' copies
    still = regional_start(prepare(x, y, 3, flags), hp, "LSTM", 2, 7, 1e-30, settings, "cpu")
    res = fit_cells(x, y, flags, np.arange(3), hp, "LSTM", fits=2, seed=7, settings=settings,
                    learning_rate=1e-30, start="regional")
    for name, t in res.weights.items():
        for m in range(6):
            torch.testing.assert_close(t.select(model_axis(name), m), still[name].select(model_axis(name), m % 2))
    with pytest.raises(ValueError, match="models.start"):
        fit_cells(x, y, flags, np.arange(3), hp, "LSTM", fits=2, seed=7, settings=settings, start="pooled")


def test_significant_trend_is_carried_back_only_where_it_stands_out_of_the_cells_own_noise():
    """`significant` and `decline` extrapolate a pumping-like decline and leave a cell whose slow, autocorrelated
    wander makes a like slope by chance: the seasonal cycle does not count, the wander's autocorrelation widens
    the error. `decline` leaves a strong rise too."""
    from twsrecon.reconstruction.fitting import SIGNIFICANT_T, target_trend, trend_t

    rng = np.random.default_rng(3)
    n_time = 240
    t = np.arange(n_time)
    season = 5 * np.sin(2 * np.pi * t / 12)
    wander = np.zeros(n_time)
    for i in range(1, n_time):  # AR(1), rho 0.95: years-long swings
        wander[i] = 0.95 * wander[i - 1] + rng.normal(0, 1.0)
    pumped = season - 0.2 * t + rng.normal(0, 1.0, n_time)
    drifting = season + wander + 0.01 * t
    twsa = np.where(t >= 120, np.stack([pumped, drifting]), np.nan)
    train = np.isfinite(twsa) & (t % 5 != 0)
    stat = trend_t(twsa, train)
    assert stat[0] < -SIGNIFICANT_T and abs(stat[1]) < SIGNIFICANT_T
    line, slope = target_trend(twsa, train, "significant")
    ext, ext_slope = target_trend(twsa, train, "extrapolate")
    assert slope[0] == pytest.approx(-0.2, abs=0.02) and slope[1] == 0.0 and ext_slope[1] != 0.0
    np.testing.assert_allclose(line[0], ext[0])
    assert not line[1].any()
    # `decline` takes the pumped cell and leaves a rise as strong (a wet spell the predictors make)
    rising = np.where(t >= 120, -pumped + 2 * season, np.nan)
    assert trend_t(rising[None], train[:1])[0] > SIGNIFICANT_T
    line, slope = target_trend(np.stack([twsa[0], rising, twsa[1]]), np.stack([train[0]] * 3), "decline")
    assert slope[0] == pytest.approx(-0.2, abs=0.02) and slope[1] == 0.0 and slope[2] == 0.0
    np.testing.assert_allclose(line[0], ext[0])
    assert not line[1:].any()
    # a season alone is no trend, however strong
    seasonal = 50 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.0, n_time)
    assert abs(trend_t(np.where(t >= 120, seasonal, np.nan)[None], train[:1])[0]) < 3
