"""Bad input stops the workflow with file, variable and problem named, and leaves no partial output."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import run_snakemake, sha256

CUBE = "results/cube/cube.nc"


@pytest.fixture
def user_inputs(demo_world, tmp_path):
    """A user's input set (copies of the demo world's files) and a config that points at it."""
    spec, paths = demo_world
    inp = tmp_path / "inputs"
    inp.mkdir()
    files = {
        "grace": shutil.copy(paths["grace"], inp),
        "avgua": shutil.copy(paths["era5"][0], inp),
        "avgad": shutil.copy(paths["era5"][1], inp),
        "sif": shutil.copy(paths["sif"], inp),
        "koppen": shutil.copy(paths["koppen"], inp),
    }
    config = {
        "grid": {"resolution": 1.0, "lat_min": spec.lat_min, "lat_max": spec.lat_max,
                 "lon_min": spec.lon_min, "lon_max": spec.lon_max},
        "demo": {"enabled": False},
        "inputs": {
            "grace": {"path": files["grace"], "apply_scale_factor": True},
            "era5": {"paths": [files["avgua"], files["avgad"]]},
            "sif": {"path": files["sif"]},
            "koppen": {"path": files["koppen"], "format": "beck_geotiff"},
        },
    }
    return tmp_path, files, config


def rewrite(path, change):
    ds = xr.open_dataset(path, decode_times=False).load()
    ds.close()
    ds = change(ds)
    os.remove(path)
    ds.to_netcdf(path)


def drop_d2m(files, config):
    rewrite(files["avgua"], lambda ds: ds.drop_vars("d2m"))
    return files["avgua"], "d2m", "not found"


def unknown_units(files, config):
    def change(ds):
        ds["t2m"].attrs["units"] = "degF"
        return ds
    rewrite(files["avgua"], change)
    return files["avgua"], "t2m", "units 'degF' not understood"


def mislabelled_units(files, config):
    def change(ds):
        ds["t2m"].attrs["units"] = "degC"  # values are still kelvin
        return ds
    rewrite(files["avgua"], change)
    return files["avgua"], "t2m", "outside the plausible range"


def daily_time_axis(files, config):
    def change(ds):
        ds["time"] = ("time", np.arange(ds.sizes["time"], dtype=float), ds["time"].attrs)
        return ds
    rewrite(files["sif"], change)
    return files["sif"], "sif", "time axis is not monthly"


def domain_not_covered(files, config):
    rewrite(files["sif"], lambda ds: ds.sel(lon=slice(-10, None)))
    return files["sif"], "sif", "analysis domain"


def truncated_file(files, config):
    size = os.path.getsize(files["grace"])
    with open(files["grace"], "r+b") as fh:
        fh.truncate(size // 2)
    return files["grace"], None, "truncated or corrupt"


def corrupt_data(files, config):
    size = os.path.getsize(files["avgad"])
    with open(files["avgad"], "r+b") as fh:
        fh.seek(size // 2)
        fh.write(np.random.default_rng(0).bytes(200_000))
    return files["avgad"], ("tp", "ssr"), "truncated or corrupt"


def missing_file(files, config):
    os.remove(files["sif"])
    return files["sif"], None, "Missing input files"


CASES = [drop_d2m, unknown_units, mislabelled_units, daily_time_axis, domain_not_covered, truncated_file,
         corrupt_data, missing_file]


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_stops_cleanly(user_inputs, case):
    work, files, config = user_inputs
    bad_file, variable, problem = case(files, config)
    untouched = {k: sha256(p) for k, p in files.items() if p != bad_file and os.path.exists(p)}
    proc = run_snakemake(work, CUBE, config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert str(bad_file) in out, out[-3000:]
    assert problem in out, out[-3000:]
    if variable:
        names = variable if isinstance(variable, tuple) else (variable,)
        assert any(f"variable '{v}'" in out for v in names), out[-3000:]
    assert not (work / CUBE).exists()
    leftovers = list((work / "results").rglob("*")) if (work / "results").exists() else []
    assert not [p for p in leftovers if p.is_file()], leftovers
    assert {k: sha256(p) for k, p in files.items() if k in untouched} == untouched


@pytest.mark.integration
def test_user_inputs_build_a_cube_and_stay_unmodified(user_inputs):
    work, files, config = user_inputs
    before = {k: sha256(p) for k, p in files.items()}
    mtimes = {k: os.path.getmtime(p) for k, p in files.items()}
    run_snakemake(work, CUBE, config=config)
    cube = xr.open_dataset(work / CUBE)
    assert set(cube.data_vars) >= {"pcp", "tmp", "snow", "rad", "rh", "sif", "twsa"}
    assert pd.DatetimeIndex(cube["time"].values)[[0, -1]].strftime("%Y-%m").tolist() == ["1982-01", "2021-12"]
    assert {k: sha256(p) for k, p in files.items()} == before
    assert {k: os.path.getmtime(p) for k, p in files.items()} == mtimes
