"""Shared fixtures: the real files in ../shared/data, a demo world, and a runner for the workflow."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (../shared is present in CI, not in a user's clone)")
    return SHARED_DATA


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


TINY_DEMO = {
    "run": {"name": "tiny"},
    "grid": {"resolution": 1.0, "lat_min": 30, "lat_max": 38, "lon_min": -7, "lon_max": 7},
    "demo": {"enabled": True, "seed": 7, "lat_min": 30, "lon_min": -7, "patch_degrees": 2},
    "prepare": {"chunk_months": 60},
    "regions": {"min_cells": 2},
    "models": {"chunks": 1, "fits": 1, "epochs": 3, "patience": 2},
    "hyperparameters": {"trials": 2, "epochs": 2, "patience": 2, "cells": 2, "lr_trials": 2,
                        "search_space": {"units": [4, 8], "window": [3, 6], "n_units": [2, 8]}},
    "gapfill": {"particles": 2, "n_features": 4, "epochs": 2},
}


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory):
    """The default demo world, generated once per test session."""
    from twsrecon.demo import DemoSpec, generate

    spec = DemoSpec()
    out = tmp_path_factory.mktemp("demo")
    paths = generate(spec, spec.domain(1.0), out, config={"test": True})
    return spec, paths


def run_snakemake(workdir: Path, *args, config: dict | None = None, check=True, timeout=900):
    """Run the real Snakemake CLI on this repository's Snakefile in `workdir`."""
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    if config is not None:  # last: --configfile takes several values
        cfg = workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(cfg)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


# The data stages and the BCNN for all 28 regions; the modelling chain has its own smaller run.
TINY_TARGETS = ("results/regions/summary.csv", "results/gapfill/bcnn.nc",
                *(f"results/gapfill/{e}/{p}/summary.csv" for e in ("evaluation", "production")
                  for p in ("all", "noSIF")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run of the tiny demo config up to the regions and the BCNN, shared by integration tests."""
    work = tmp_path_factory.mktemp("tiny")
    run_snakemake(work, *TINY_TARGETS, config=TINY_DEMO)
    return work


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
