"""The workflow end to end on the tiny demo config, the dry run's fan-out, lint, and config validation."""

import re

import numpy as np
import pytest
import xarray as xr
from conftest import REPO, TINY_DEMO, TINY_TARGETS, run_snakemake

from twsrecon.data.io import read_csv
from twsrecon.regions.classes import REGIONS

pytestmark = pytest.mark.integration


def test_tiny_demo_builds_cube_and_all_regions(tiny_run):
    cube = xr.open_dataset(tiny_run / "results/cube/cube.nc")
    assert cube.sizes == {"time": 480, "lat": 8, "lon": 14, "bnds": 2}
    for v, units in {"pcp": "m", "tmp": "K", "snow": "m", "rad": "J m-2", "rh": "%", "twsa": "cm",
                     "sif": "mW m-2 nm-1 sr-1"}.items():
        assert cube[v].attrs["units"] == units and cube[v].attrs["grid_mapping"] == "crs"
        assert "long_name" in cube[v].attrs
    assert cube["pcp"].attrs["cell_methods"] == cube["rad"].attrs["cell_methods"] == "time: sum"  # monthly totals
    assert cube["lat"].attrs["bounds"] == "lat_bnds" and "crs_wkt" in cube["crs"].attrs
    assert "code_version" in cube.attrs and "workflow_config_sha256" in cube.attrs
    # GRACE months only; the mission gap is empty.
    has = cube["twsa"].notnull().any(("lat", "lon")).to_series()
    assert not has[:"2002-03"].any() and not has["2017-07":"2018-05"].any() and has["2018-06":].sum() > 30

    table = read_csv(tiny_run / "results/regions/summary.csv")
    assert len(table) == 28 and set(table["region"]) == set(REGIONS)
    assert table["included"].all()
    for region in REGIONS:
        ds = xr.open_dataset(tiny_run / f"results/regions/{region}.nc")
        assert ds.attrs["region"] == region and ds.sizes["cell"] >= TINY_DEMO["regions"]["min_cells"]
        assert set(ds.data_vars) >= {"pcp", "tmp", "snow", "rad", "rh", "sif", "twsa", "has_sif"}
        for v in ("pcp", "tmp", "snow", "rad", "rh"):
            assert np.isfinite(ds[v].values).all()
        # Cell ids index the analysis grid, and lat/lon match them.
        i, j = np.divmod(ds["cell"].values, cube.sizes["lon"])
        np.testing.assert_allclose(cube["lat"].values[i], ds["lat"].values)
        np.testing.assert_allclose(cube["lon"].values[j], ds["lon"].values)
        np.testing.assert_allclose(ds["twsa"].values[:, 0], cube["twsa"].values[:, i[0], j[0]], equal_nan=True)
    assert (tiny_run / "resources/demo/truth_twsa.nc").exists()
    for log in ("logs/prepare_cube.log", "logs/demo_world.log", "logs/region_cells/polar_frost.log"):
        assert (tiny_run / log).stat().st_size > 0


def test_completed_run_plans_nothing(tiny_run):
    proc = run_snakemake(tiny_run, "-n", *TINY_TARGETS, config=TINY_DEMO)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_min_cells_leaves_a_region_out_with_a_reason(tiny_run):
    cfg = {**TINY_DEMO, "regions": {"min_cells": 5}}  # tiny patches hold 4 cells
    run_snakemake(tiny_run, "results/regions/arid_deserthot.nc", "--forceall", config=cfg)
    ds = xr.open_dataset(tiny_run / "results/regions/arid_deserthot.nc")
    assert ds.attrs["included"] == 0 and "< regions.min_cells = 5" in ds.attrs["exclusion_reason"]
    assert ds.sizes["cell"] == 0
    log = (tiny_run / "logs/region_cells/arid_deserthot.log").read_text()
    assert "left out" in log
    run_snakemake(tiny_run, "results/regions/arid_deserthot.nc", "--forceall", config=TINY_DEMO)


def test_dry_run_of_the_demo_lists_one_job_per_region(tmp_path):
    proc = run_snakemake(tmp_path, "-n")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert counts["region_cells"] == "28"
    assert counts["prepare_cube"] == "1" and counts["demo_world"] == "1"


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(REPO, "--lint")
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_invalid_config_stops_before_any_job(tmp_path):
    bad = {**TINY_DEMO, "grid": {**TINY_DEMO["grid"], "resolution": -1}}
    proc = run_snakemake(tmp_path, "-n", config=bad, check=False)
    assert proc.returncode != 0
    assert "config key 'grid.resolution'" in proc.stdout + proc.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()
    proc = run_snakemake(tmp_path, "-n", config={**TINY_DEMO, "regions": {"include": ["atlantis"]}}, check=False)
    assert proc.returncode != 0 and "config key 'regions.include.0'" in proc.stdout + proc.stderr
