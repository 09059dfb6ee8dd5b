"""A workflow script's `main(snakemake)` runs without Snakemake, on a stand-in for the job's `snakemake` object.

One tiny run makes the inputs (the cube, one region's split and hyperparameters, the BCNN evaluation fit) and
keeps the scripts Snakemake ran (--skip-script-cleanup), whose preamble holds the job's pickled `snakemake`
object: its params, wildcards, threads and resources are the job's own, so nothing here restates a rule. Each
script's main then runs in this process on a stand-in built from those plain values, into new paths, and writes
what the job wrote.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import REPO, TINY_DEMO, run_snakemake
from safetensors import safe_open

from twsrecon.data.grid import Grid
from twsrecon.evaluation.external import external_product
from twsrecon.gapfill.experiment import BCNNSettings
from twsrecon.reconstruction.fitting import RegionArrays
from twsrecon.reconstruction.hyperparameters import MissingStudyError
from twsrecon.reconstruction.merge import TUNED_SELECTION
from twsrecon.reconstruction.training import TrainSettings
from twsrecon.reconstruction.tuning import choose_hyperparameters
from twsrecon.standin import snakemake_standin

REGION, MODEL = "temperate_nodrywarmsum", "LSTM"
CONFIG = {
    **TINY_DEMO,
    "regions": {"min_cells": 2, "include": [REGION]},
    "models": {**TINY_DEMO["models"], "types": [MODEL]},
    "gapfill": {**TINY_DEMO["gapfill"], "predictor_sets": {"all": ["pcp", "tmp", "snow", "rad", "rh", "sif"]}},
}
TARGETS = ("results/cube/cube.nc", f"results/training/{MODEL}/{REGION}/final.nc",
           "results/gapfill/evaluation/all/bcnn.nc")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("scripts_main")
    run_snakemake(work, *TARGETS, "--skip-script-cleanup", config=CONFIG)
    return work


def job_of(work, script: str):
    """The `snakemake` object of the job that ran `script`, unpickled from the script Snakemake wrote."""
    found = sorted((work / ".snakemake" / "scripts").glob(f"*.{script}.py"))
    assert len(found) == 1, found
    preamble = found[0].read_text().split("######## snakemake preamble end", 1)[0]
    pickled = re.search(r"snakemake = pickle\.loads\((b(['\"]).*?\2)\);", preamble, re.S).group(1)
    return pickle.loads(ast.literal_eval(pickled))


def files(named):
    """A job's files as the stand-in takes them: by name where the rule names them."""
    return dict(named.items()) if list(named.keys()) else list(named)


def load_main(script: str):
    spec = importlib.util.spec_from_file_location(f"script_{script}", REPO / "workflow" / "scripts" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not as __main__: defines main, runs nothing
    return module.main


@pytest.fixture
def run_main(work, tmp_path, monkeypatch):
    """Run `script`'s main on a stand-in of its job with the outputs in tmp_path; the job's and the new outputs."""
    monkeypatch.chdir(work)  # the job's paths are relative to the working directory, as in a job
    # logs.setup points stderr, the excepthook and the root logger at the log: put them back afterwards
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(script: str):
        job = job_of(work, script)
        outputs = ({name: str(tmp_path / f"{name}{''.join(Path(path).suffixes)}") for name, path in job.output.items()}
                   or [str(tmp_path / Path(path).name) for path in job.output])
        log = tmp_path / f"{script}.log"
        standin = snakemake_standin(input=files(job.input), output=outputs, params=dict(job.params.items()),
                                    wildcards=dict(job.wildcards.items()), threads=job.threads,
                                    resources=dict(job.resources.items()), log=[str(log)], rule=job.rule)
        try:
            load_main(script)(standin)
        finally:
            for h in root.handlers:
                if h not in handlers:
                    h.close()
            root.handlers[:], root.level = handlers, level
        old = dict(job.output.items()) if list(job.output.keys()) else dict(enumerate(job.output))
        new = outputs if isinstance(outputs, dict) else dict(enumerate(outputs))
        return {k: (work / old[k], Path(new[k])) for k in old}, log.read_text()

    return run


# --- what the scripts call now, on its own ---


def test_tuning_settings_come_from_one_place():
    training = {"epochs": 50, "patience": 10, "batch_size": 32, "shuffle": False, "fits": 3}
    tuning = {"epochs": 5, "patience": 2, "batch_size": 0, "trials": 9}
    assert TrainSettings.from_params(training) == TrainSettings(epochs=50, patience=10, batch_size=32, shuffle=False)
    assert TrainSettings.from_params(training, tuning=tuning) == TrainSettings(epochs=5, patience=2, batch_size=32,
                                                                                 shuffle=False)
    assert TrainSettings.from_params(training, tuning={**tuning, "batch_size": 8}).batch_size == 8


def test_bcnn_settings_from_params():
    params = {"lags": [0, 1, 2], "particles": 2, "n_features": 4, "epochs": 2, "learning_rate": 1e-3, "batch_size": 8,
              "domain": None, "resolution": 1.0, "ice_classes": [30], "bf16": False,
              "target_scaling": "global", "noise": "particle", "latitude_weighting": False, "lr_schedule": "none",
              "calibration": "none", "calibration_months": 11, "anchor": "none", "anchor_months": 1}
    settings = BCNNSettings.from_params(params)
    assert settings.lags == [0, 1, 2] and settings.ice_classes == [30] and not settings.bf16
    with pytest.raises(KeyError):
        BCNNSettings.from_params({k: v for k, v in params.items() if k != "lags"})


def test_external_product_is_a_twsa_file_on_the_grid(shared_data):
    path = shared_data / "reference-products" / "reconstructed_grace_tws_v1.nc"
    ds = external_product({"variable": "lwe_thickness"}, path, "mine", Grid(1.0, 20, 24, 76, 80))
    assert ds["twsa"].sizes == {"time": 244, "lat": 4, "lon": 4} and ds["twsa"].attrs["units"] == "cm"
    assert ds["time"].attrs["axis"] == "T" and ds.attrs["title"] == "External TWSA product mine"
    assert ds.attrs["source"] == str(path) and {"lat_bnds", "lon_bnds", "crs"} <= set(ds.variables)


def test_missing_published_study_stops_or_falls_back_to_tuning(tmp_path, caplog):
    rng = np.random.default_rng(0)
    cells, months = 3, 48
    flags = np.tile(np.repeat(np.array([1, 2, 1, 3], np.int8), 12), (cells, 1))
    cells_of = RegionArrays(xr.Dataset(coords={"cell": np.arange(cells)}), rng.normal(size=(cells, months, 2)),
                            rng.normal(size=(cells, months)), flags)
    settings = {"source": "published", "published_dir": str(tmp_path / "none"), "fallback_to_tune": False,
                "trials": 1, "cells": 2, "epochs": 1, "patience": 1, "batch_size": 0,
                "search_space": {"units": [2, 4], "window": [3, 6], "window_step": 3, "learning_rate": [1e-3, 1e-2],
                                 "n_layers": [1, 1], "n_units": [2, 4]}}
    training = {"seed": 1, "epochs": 3, "patience": 2, "batch_size": 16, "include_current_month": False,
                "trend": "none"}
    with pytest.raises(MissingStudyError):
        choose_hyperparameters(cells_of, REGION, MODEL, settings, training, tmp_path / "s.journal", "cpu")
    with caplog.at_level(logging.WARNING, logger="twsrecon"):
        hp, selection = choose_hyperparameters(cells_of, REGION, MODEL, {**settings, "fallback_to_tune": True},
                                               training, tmp_path / "s.journal", "cpu")
    assert selection == TUNED_SELECTION and hp.source.startswith("tuned: study")
    assert "FALLBACK TO TUNING in temperate_nodrywarmsum for LSTM" in caplog.text


def same_netcdf(old, new, rtol=1e-6):
    with xr.open_dataset(old) as a, xr.open_dataset(new) as b:
        assert set(a.variables) == set(b.variables)
        xr.testing.assert_allclose(a.drop_attrs(), b.drop_attrs(), rtol=rtol)


def same_safetensors(old, new):
    with safe_open(old, "pt") as a, safe_open(new, "pt") as b:
        assert set(a.keys()) == set(b.keys()) and a.metadata() == b.metadata()
        for k in a.keys():
            np.testing.assert_allclose(a.get_tensor(k).numpy(), b.get_tensor(k).numpy(), rtol=1e-5, atol=1e-7)


def test_standin_behaves_as_a_job():
    s = snakemake_standin(input={"cube": "c.nc", "era5": ["a.nc", "b.nc"], "truth": []}, output=["o.nc"],
                          params={"grid": {"resolution": 1}}, wildcards={"chunk": 0}, resources={"device": "cpu"},
                          log=["x.log"], threads=3)
    assert s.input.cube == s.input["cube"] == "c.nc" and list(s.input.era5) == ["a.nc", "b.nc"]
    assert list(s.input.keys()) == ["cube", "era5", "truth"] and not s.input.truth and s.input.get("sif") is None
    assert s.output[0] == "o.nc" and s.log[0] == "x.log" and s.threads == 3
    assert s.params.grid == {"resolution": 1} and s.wildcards.chunk == "0" and s.resources.device == "cpu"


@pytest.mark.integration
def test_prepare_cube_main(run_main):
    outputs, log = run_main("prepare_cube")
    for old, new in outputs.values():
        same_netcdf(old, new)
    assert "cube written to" in log


@pytest.mark.integration
def test_hyperparameters_main(run_main):
    outputs, log = run_main("hyperparameters")  # the job's finished study: the same choice, no new trial
    old, new = (json.loads(p.read_text()) for p in outputs[0])
    assert old == new and not new["excluded"]
    assert "tuned hyperparameters" in log


@pytest.mark.integration
def test_train_chunk_main(run_main):
    outputs, log = run_main("train_chunk")
    same_netcdf(*outputs["chunk"], rtol=1e-5)
    same_safetensors(*outputs["weights"])
    assert "training" in log and "median PCC train+validation" in log


@pytest.mark.integration
def test_bcnn_main(run_main):
    outputs, log = run_main("bcnn")
    for name in ("product", "scores"):
        same_netcdf(*outputs[name], rtol=1e-5)
    same_safetensors(*outputs["weights"])
    old, new = (pd.read_csv(p, comment="#") for p in outputs["summary"])
    pd.testing.assert_frame_equal(old, new, rtol=1e-5)
    assert "fit on the BCNN grid" in log


@pytest.mark.integration
def test_retune_lr_main(run_main):
    outputs, log = run_main("retune_lr")
    same_netcdf(*outputs["final"], rtol=1e-5)
    same_safetensors(*outputs["weights"])
    old, new = (pd.read_csv(p, comment="#") for p in outputs["low_pcc"])
    pd.testing.assert_frame_equal(old, new, rtol=1e-5)
