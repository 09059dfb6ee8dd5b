"""Partial reruns after a complete run: Snakemake plans exactly the jobs that a change concerns.

One complete run of a tiny config (two regions × two model types × two chunks, the BCNN, the evaluation) in a
COPY of the repository (the model-code test edits the copy's package, never the working tree). Each test
changes one thing, asserts the exact set of jobs `snakemake -n` plans and their reasons, and puts the thing back
(with its old modification time), so the tests do not depend on each other.
"""

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import rasterio
from conftest import REPO, TINY_DEMO, dry_run, job_keys, run_snakemake

pytestmark = pytest.mark.integration

A, B = "temperate_nodrywarmsum", "polar_tundra"
MODELS = ["LSTM", "LSTMnoSIF"]
CHUNKS = [0, 1]
RERUN = {
    **TINY_DEMO,
    "regions": {"min_cells": 2, "include": [A, B]},
    "models": {**TINY_DEMO["models"], "types": MODELS, "chunks": len(CHUNKS)},
    "gapfill": {**TINY_DEMO["gapfill"], "predictor_sets": {"all": ["pcp", "tmp", "snow", "rad", "rh", "sif"]}},
}


def modelling(regions):
    """The modelling jobs of `regions` and everything they feed (the merge and skill of each model type, the
    ensemble of the model types)."""
    jobs = [("all", {}), ("ensemble", {})]
    for m in MODELS:
        jobs += [("merge_reconstruction", {"model": m}), ("reconstruction_skill", {"model": m})]
        for r in regions:
            jobs += [("hyperparameters", {"model": m, "region": r}), ("retune_lr", {"model": m, "region": r})]
            jobs += [("train_chunk", {"model": m, "region": r, "chunk": str(c)}) for c in CHUNKS]
    return job_keys(*jobs)


BASELINES = ("climatology", "trend_season")


def split_jobs(regions=(A, B)):
    """The stored split of `regions` and its gridded copy (every product below it is scored on it)."""
    return job_keys(*[("split", {"region": r}) for r in regions], ("gridded_split", {}))


def evaluation(products=MODELS):
    """The evaluation jobs below a change to `products` (the baselines and external products are scored on
    the stored split, so a model change leaves them alone): scores, tables, maps, boxplots, and the time
    series of A and B (evaluation.timeseries_regions left empty: the largest regions), made from the models."""
    periods = ("test", "pre_grace", "gap")  # the demo has a truth
    if any(p in MODELS or p.startswith("BCNN_") for p in products):  # the ensemble is made of both
        products = (*products, "ensemble")
    return job_keys(*[("score_product", {"product": p}) for p in products],
                    *[("timeseries_figure", {"region": r}) for r in (A, B) if set(MODELS) & set(products)],
                    ("evaluation_tables", {}), ("skill_table", {}), ("summary_figure", {}),
                    *[("score_maps", {"metric": m, "period": t}) for m in ("r", "nse") for t in periods],
                    *[("score_boxplots", {"grouping": g, "period": t}) for g in ("region", "aridity")
                      for t in periods])


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    """A copy of the repository and a complete run of RERUN with it."""
    root = tmp_path_factory.mktemp("rerun")
    repo = root / "repo"
    repo.mkdir()
    for name in ("Snakefile", "workflow", "src", "config", "envs"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, repo / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.egg-info")}
                                          if (REPO / name).is_dir() else {}))
    work = root / "work"
    run_snakemake(work, config=RERUN, snakefile=repo / "Snakefile")
    return repo, work


def plan(complete, config=RERUN):
    repo, work = complete
    return dry_run(work, config=config, snakefile=repo / "Snakefile")


class restored:
    """Put a file back as it was, content and modification time, when the block ends."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.backup = self.path.with_name(self.path.name + ".orig")
        shutil.copy2(self.path, self.backup)
        return self.path

    def __exit__(self, *exc):
        shutil.copy2(self.backup, self.path)
        self.backup.unlink()


def test_nothing_changed_plans_nothing(complete):
    assert plan(complete) == {}


def test_one_regions_setting_reruns_only_that_region(complete):
    # region A samples fewer cells for tuning: its hyperparameters change, B's do not
    config = {**RERUN, "hyperparameters": {**RERUN["hyperparameters"], "regions": {A: {"cells": 1}}}}
    jobs = plan(complete, config)
    assert set(jobs) == modelling([A]) | evaluation()
    for m in MODELS:
        assert "Params have changed since last execution" in jobs[job_keys(("hyperparameters",
                                                                            {"model": m, "region": A})).pop()]
    assert plan(complete) == {}  # the old setting: nothing to do again


def test_replaced_input_reruns_what_depends_on_it(complete):
    _, work = complete
    koppen = work / "resources/demo/koppen_geiger_0p25.tif"
    with restored(koppen):
        with rasterio.open(koppen) as src:
            profile, data = src.profile, src.read(1)
        data = np.where(data == data.max(), data.min(), data)  # another map: one class folded into another
        with rasterio.open(koppen, "w", **profile) as dst:
            dst.write(data, 1)
        jobs = plan(complete)
    # The Köppen–Geiger map feeds the classes, hence every region and its models, and the BCNN (its ice-sheet
    # mask, gapfill.ice_classes, comes from the classes); not the cube.
    expected = modelling([A, B]) | evaluation((*MODELS, "BCNN_all", *BASELINES)) | split_jobs() | job_keys(
        ("koppen_classes", {}), ("region_summary", {}), ("region_cells", {"region": A}), ("region_cells", {"region": B}),
        *[("bcnn", {"experiment": e, "predictors": "all"}) for e in ("evaluation", "production")],
        ("gapfill_product", {}), ("gap_figures", {}), ("gap_trend", {}))
    assert set(jobs) == expected
    assert jobs[("koppen_classes", ())] == "Updated input files: resources/demo/koppen_geiger_0p25.tif"
    assert plan(complete) == {}


def test_a_split_setting_reruns_everything_trained_or_scored_on_it(complete):
    config = {**RERUN, "split": {"chunk_months": 30}}
    jobs = plan(complete, config)
    # not the cube or the regions; every job that tunes, trains or scores on the split, the BCNN fits too
    # (gapfill.calibration: windows leaves each cell's test months out of the windows that calibrate the interval) and
    # everything made from them
    bcnn = job_keys(*[("bcnn", {"experiment": e, "predictors": "all"}) for e in ("evaluation", "production")],
                    ("gapfill_product", {}), ("gap_figures", {}), ("gap_trend", {}))
    assert set(jobs) == modelling([A, B]) | evaluation((*MODELS, "BCNN_all", *BASELINES)) | split_jobs() | bcnn
    for r in (A, B):
        assert jobs[("split", (("region", r),))].startswith("Params have changed since last execution")
    assert plan(complete) == {}


def test_model_code_change_reruns_training_not_data_preparation(complete):
    repo, _ = complete
    with restored(repo / "src/twsrecon/reconstruction/models.py") as models:
        models.write_text(models.read_text() + "\n# an edit to the networks' module\n")
        jobs = plan(complete)
    assert set(jobs) == modelling([A, B]) | evaluation()  # not the BCNN: its scripts do not import models.py
    # The reasons a user reads: the edited module for the first jobs that use it; Snakemake names only the
    # upstream outputs for the jobs below them (which use models.py too).
    for (rule, _), reason in jobs.items():
        if rule == "hyperparameters":
            assert reason == f"Updated input files: {repo}/src/twsrecon/reconstruction/models.py", reason
        elif rule != "all":
            assert reason.startswith("Input files updated by another job: results/"), reason
    assert plan(complete) == {}


def test_every_planned_job_has_a_reason(complete):
    _, work = complete
    with restored(work / "resources/demo/sif_monthly_0p5deg.nc") as sif:
        with netCDF4.Dataset(sif, "a") as nc:  # new content: a reprocessed SIF file
            nc.setncattr("history", "reprocessed")
        jobs = plan(complete)
    # The cube and everything made from it (all regions, every model, the BCNN, the whole evaluation); not the
    # Köppen–Geiger map.
    expected = modelling([A, B]) | evaluation((*MODELS, "BCNN_all", *BASELINES)) | split_jobs() | job_keys(
        ("prepare_cube", {}), ("region_summary", {}), ("region_cells", {"region": A}), ("region_cells", {"region": B}),
        ("bcnn", {"experiment": "evaluation", "predictors": "all"}),
        ("bcnn", {"experiment": "production", "predictors": "all"}), ("gapfill_product", {}),
        ("aridity", {}), ("gap_trend", {}), ("gap_figures", {}))
    assert set(jobs) == expected
    for (rule, _), reason in jobs.items():
        if rule == "prepare_cube":
            assert reason == "Updated input files: resources/demo/sif_monthly_0p5deg.nc", reason
        else:
            assert reason.startswith("Input files updated by another job: results/"), (rule, reason)
    assert plan(complete) == {}


def test_training_setting_reruns_training_not_tuning(complete):
    # models.epochs is a training setting: the tuning has its own (hyperparameters.epochs)
    config = {**RERUN, "models": {**RERUN["models"], "epochs": RERUN["models"]["epochs"] + 1}}
    jobs = plan(complete, config)
    hp = {k for k in modelling([A, B]) if k[0] == "hyperparameters"}
    assert hp and set(jobs) == (modelling([A, B]) - hp) | evaluation()
    for (rule, _), reason in jobs.items():
        if rule == "train_chunk":  # the only params that changed: the epochs
            assert reason.startswith("Params have changed since last execution"), (rule, reason)
            assert "'epochs': 3" in reason and "'epochs': 4" in reason and "device" not in reason, reason
    assert plan(complete) == {}


@pytest.mark.parametrize("section", ["models", "gapfill"])
def test_device_reruns_nothing(complete, section):
    # where a job runs does not change what it computes: not a param (a resource)
    config = {**RERUN, section: {**RERUN[section], "device": "cuda"}}
    assert plan(complete, config) == {}


def test_new_predictor_set_runs_only_its_fits_and_consumers(complete):
    sets = {**RERUN["gapfill"]["predictor_sets"], "noSIF": ["pcp", "tmp", "snow", "rad", "rh"]}
    config = {**RERUN, "gapfill": {**RERUN["gapfill"], "predictor_sets": sets}}
    jobs = plan(complete, config)
    assert set(jobs) == evaluation(("BCNN_noSIF",)) | job_keys(
        ("all", {}), ("ensemble", {}), ("bcnn", {"experiment": "evaluation", "predictors": "noSIF"}),
        ("bcnn", {"experiment": "production", "predictors": "noSIF"}))
    assert plan(complete) == {}


def test_metrics_edit_reruns_the_rules_that_import_it(complete):
    repo, _ = complete
    # The rules in this DAG whose scripts import twsrecon.evaluation.metrics, directly or through other modules
    # (bcnn via gapfill, the modelling rules via training/reconstruction, the scoring via evaluation).
    importing = {"bcnn", "hyperparameters", "train_chunk", "retune_lr", "merge_reconstruction",
                 "reconstruction_skill", "score_product", "evaluation_tables", "skill_table", "score_maps",
                 "score_boxplots", "gap_trend", "summary_figure", "timeseries_figure",  # the figures: via evaluation
                 "ensemble"}  # its spread's calibration
    with restored(repo / "src/twsrecon/evaluation/metrics.py") as metrics:
        metrics.write_text(metrics.read_text() + "\n# an edit to the metrics\n")
        jobs = plan(complete)
    below = job_keys(("gapfill_product", {}), ("gap_figures", {}))  # made from the BCNN fits, import no metrics
    assert set(jobs) == modelling([A, B]) | evaluation((*MODELS, "BCNN_all", "climatology", "trend_season")) | \
        below | job_keys(*[("bcnn", {"experiment": e, "predictors": "all"}) for e in ("evaluation", "production")]) | \
        job_keys(("gap_trend", {}))
    # Snakemake names the edited module for the first jobs that use it and only the upstream outputs for those
    # below them: the BCNN fits and the tuning; every other importing rule runs below one of these.
    edited = {rule for (rule, _), reason in jobs.items() if f"{repo}/src/twsrecon/evaluation/metrics.py" in reason}
    # the first jobs to use it: the baselines' scores too (they are made from the split and the cube alone)
    assert edited == {"bcnn", "hyperparameters", "score_product"}
    assert {rule for rule, _ in jobs} - {"all", "gapfill_product", "gap_figures"} == importing
    # never the data preparation, which does not import it
    assert not {rule for rule, _ in jobs} & {"prepare_cube", "region_cells", "koppen_classes", "aridity"}
    assert plan(complete) == {}
