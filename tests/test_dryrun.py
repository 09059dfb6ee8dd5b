"""Inspecting the plan: `snakemake -n` shows the fan-out of the demo and of the real-data template, and
`snakemake --dag` renders with graphviz."""

import shutil
import subprocess

import pytest
import yaml

from conftest import REPO, SHARED_DATA, TINY_DEMO, dry_run, planned_jobs, run_snakemake, skip_or_fail

pytestmark = pytest.mark.integration


def counts(jobs) -> dict[str, int]:
    out = {}
    for rule, _ in jobs:
        out[rule] = out.get(rule, 0) + 1
    return out


def fan_out(regions=28, models=4, chunks=1, predictor_sets=3, timeseries=4, demo=False):
    n = regions * models
    periods = 3 if demo else 1  # figures for test months; on the demo also 1984-2001 and the gap (truth)
    products = models + 1 + predictor_sets + 2  # reconstructions, the ensemble, BCNN per set, two baselines
    return {"prepare_cube": 1, "koppen_classes": 1, "region_cells": regions, "region_summary": 1,
            "split": regions, "gridded_split": 1,
            "hyperparameters": n, "train_chunk": n * chunks, "retune_lr": n, "merge_reconstruction": models,
            "reconstruction_skill": models, "bcnn": 2 * predictor_sets, "gapfill_product": 1,
            "aridity": 1, "score_product": products, "evaluation_tables": 1, "score_maps": 2 * periods,
            "score_boxplots": 2 * periods, "timeseries_figure": timeseries, "gap_trend": 1, "gap_figures": 1,
            "summary_figure": 1, "ensemble": 1, "all": 1} | ({"demo_world": 1, "skill_table": 1} if demo else {})


def test_demo_dry_run_fan_out(tmp_path):
    # config/config.yaml as `make demo` runs it: 28 regions x 5 model types (the authors' four and LSTMwb) x 1
    # chunk; BCNN for {evaluation, production} x {all, noSIF, paper}; the evaluation of 11 products.
    jobs = dry_run(tmp_path)
    assert counts(jobs) == fan_out(models=5, chunks=1, demo=True)
    assert sum(counts(jobs).values()) == 533  # the figure the README gives for `make demo`
    assert ("train_chunk", (("chunk", "0"), ("model", "BiLSTMnoSIF"), ("region", "polar_frost"))) in jobs


def test_real_config_dry_run_fan_out(tmp_path):
    """config/real.yaml with placeholder (empty) input files, which a dry run only needs to list."""
    files = {"grace": "in/grace.nc", "era5_a": "in/era5/2000_stepType-avgua.nc",
             "era5_b": "in/era5/2000_stepType-avgad.nc", "sif": "in/sif.nc", "koppen": "in/koppen.tif"}
    for f in files.values():
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"")
    config = yaml.safe_load((REPO / "config" / "real.yaml").read_text())
    # A full inputs section of our own (whatever real.yaml's says), relative to the working directory.
    config["inputs"] = {"grace": {"path": files["grace"], "apply_scale_factor": False},
                        "era5": {"paths": ["in/era5/*stepType-avgua*.nc", "in/era5/*stepType-avgad*.nc"]},
                        "sif": {"path": files["sif"], "variable": None},
                        "koppen": {"path": files["koppen"], "format": "beck_geotiff"}}
    published = SHARED_DATA / "graice-hyperparameters"
    if published.is_dir():  # the authors' studies: each region's hyperparameters job lists its study files
        config["hyperparameters"]["published_dir"] = str(published)
    else:  # no studies here: the jobs would tune instead; the plan has the same jobs
        config["hyperparameters"]["source"] = "tune"
    (tmp_path / "real.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "real.yaml"))
    jobs = planned_jobs(proc.stdout + proc.stderr)
    chunks = config["models"]["chunks"]
    assert chunks == 16
    assert counts(jobs) == fan_out(chunks=chunks)  # BCNN: {evaluation, production} x {all, noSIF, paper}
    # cube, classes, 28 regions, summary, 28 splits and their grid; per region x model: tuning, 16 chunks,
    # re-tuning; 4 merges, 4 skills, 6 BCNN fits, the gap-fill product; evaluation: aridity, the ensemble,
    # 10 products, tables, 2 maps, 2 boxplots, 4 time series, gap trend and figures, the summary figure; all
    assert sum(counts(jobs).values()) == 2 + 28 + 1 + 29 + 28 * 4 * (1 + 16 + 1) + 4 + 4 + 6 + 1 + 24 + 1 == 2116
    assert ("train_chunk", (("chunk", "15"), ("model", "LSTMnoSIF"), ("region", "arid_deserthot"))) in jobs


def test_dag_renders_with_dot(tmp_path):
    dot = shutil.which("dot")
    if dot is None:
        skip_or_fail("graphviz `dot` is not installed (apt-get install graphviz)")
    cfg = {**TINY_DEMO, "regions": {"min_cells": 2, "include": ["polar_tundra"]},
           "models": {**TINY_DEMO["models"], "types": ["LSTM"]}}
    for graph in ("--dag", "--rulegraph"):
        proc = run_snakemake(tmp_path, graph, config=cfg)
        assert proc.stdout.lstrip().startswith("digraph")
        svg = subprocess.run([dot, "-Tsvg"], input=proc.stdout, capture_output=True, text=True, timeout=120)
        assert svg.returncode == 0, svg.stderr
        assert "<svg" in svg.stdout and "train_chunk" in svg.stdout and "bcnn" in svg.stdout


# The rules that may read the demo world's true TWSA: they score and draw, and nothing downstream of them fits.
TRUTH_READERS = {"score_product", "timeseries_figure", "summary_figure"}


def test_truth_is_read_only_by_scoring_rules(tmp_path):
    """No fitting, tuning or choosing rule may see the demo's truth: on a fresh directory every job that reads
    it lists it among the 'input files updated by another job' (demo_world writes it)."""
    jobs = dry_run(tmp_path)
    truth = "resources/demo/truth_twsa.nc"
    readers = {rule for (rule, _), reason in jobs.items()
               if truth in reason.partition("Input files updated by another job:")[2]}
    assert readers == TRUTH_READERS
    # and no rule downstream of a truth reader feeds a fit: the truth readers' outputs are read only by tables
    # and figures (the scores files), which the fits never take
    fitting = {"hyperparameters", "train_chunk", "retune_lr", "bcnn", "ensemble", "split", "merge_reconstruction"}
    for (rule, _), reason in jobs.items():
        if rule in fitting:
            assert "results/evaluation/" not in reason, (rule, reason)
