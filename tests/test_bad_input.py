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


def set_attr(path, variable, key, value):
    """Rewrite one attribute of one variable of a provider file (the bad-input cases that only relabel)."""
    def change(ds):
        ds[variable].attrs[key] = value
        return ds
    rewrite(path, change)


def drop_d2m(files, config):
    rewrite(files["avgua"], lambda ds: ds.drop_vars("d2m"))
    return files["avgua"], "d2m", "not found"


def unknown_units(files, config):
    set_attr(files["avgua"], "t2m", "units", "degF")
    return files["avgua"], "t2m", "units 'degF' not understood"


def mislabelled_units(files, config):
    set_attr(files["avgua"], "t2m", "units", "degC")  # values are still kelvin
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
    return files["sif"], None, "inputs.sif.path: no such file"


def era5_half_domain(files, config):
    # avgad covers only the northern half of the latitudes, avgua all of them
    def change(ds):
        return ds.isel(latitude=slice(0, ds.sizes["latitude"] // 2))
    rewrite(files["avgad"], change)
    return files["avgad"], "tp, ssr, e, ro", "but the analysis domain needs lat"


def grace_all_fill(files, config):
    def change(ds):
        ds["lwe_thickness"] = ds["lwe_thickness"].where(False)  # every value _FillValue on writing
        return ds
    rewrite(files["grace"], change)
    return files["grace"], "lwe_thickness", "no valid values on the domain"


def with_duplicate_months(ds, expver_of_copy):
    """The last three months once more, as the CDS delivers overlapping ERA5/ERA5T requests."""
    last = ds.isel(valid_time=slice(-3, None)).copy(deep=True)
    last["expver"] = ("valid_time", np.array([expver_of_copy] * 3, dtype=object))
    for v in ("tp", "ssr", "t2m", "d2m", "sd"):
        if v in last:
            last[v] = last[v] * 1.01
    return xr.concat([ds, last], dim="valid_time", data_vars="minimal", coords="different", compat="equals")


def era5t_twice(files, config):
    # the duplicates are ERA5T twice (expver 0005 and 0005): no final value to prefer
    rewrite(files["avgua"], lambda ds: with_duplicate_months(ds, "0005"))
    return files["avgua"], "valid_time", "appear more than once and cannot be resolved: 2021-10 (expver 0005, 0005)"


def grace_time_units(files, config):
    set_attr(files["grace"], "time", "units", "months since 2002-01-01")
    return files["grace"], "time", "time units 'months since 2002-01-01' cannot be decoded"


def sif_mostly_missing(files, config):
    def change(ds):
        var = next(v for v in ds.data_vars if {"lat", "lon"} <= set(ds[v].dims))
        ds[var] = ds[var].where(ds["lat"] > ds["lat"].quantile(0.75))  # the southern three quarters missing
        return ds
    rewrite(files["sif"], change)
    return files["sif"], ("sif", "SIF", "sif_daily"), "more than prepare.max_missing_share = 0.5"


CASES = [drop_d2m, unknown_units, mislabelled_units, daily_time_axis, domain_not_covered, truncated_file,
         corrupt_data, missing_file, era5_half_domain, grace_all_fill, era5t_twice, grace_time_units,
         sif_mostly_missing]


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


@pytest.mark.integration
def test_grid_outside_the_data_fails_before_any_job(user_inputs):
    work, files, config = user_inputs
    config["grid"]["lat_max"] += 4  # beyond every file
    before = {k: sha256(p) for k, p in files.items()}
    proc = run_snakemake(work, CUBE, config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"inputs.grace.path: file '{files['grace']}', variable 'lwe_thickness" in out, out[-3000:]
    assert "but the analysis domain needs lat" in out, out[-3000:]
    assert "Building DAG of jobs" not in out and not (work / "logs").exists(), out[-3000:]
    assert {k: sha256(p) for k, p in files.items()} == before


@pytest.mark.integration
def test_a_water_balance_model_type_without_its_era5_fields_fails_before_any_job(user_inputs):
    """models.types LSTMwb needs e and ro for cwsc_dev: files without e stop the run at the DAG, naming both."""
    work, files, config = user_inputs
    rewrite(files["avgad"], lambda ds: ds.drop_vars("e"))
    config["models"] = {"types": ["LSTM", "LSTMwb"]}
    proc = run_snakemake(work, CUBE, config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "models.types.LSTMwb uses cwsc_dev, which needs the ERA5 variable(s) e" in out, out[-3000:]
    assert "Building DAG of jobs" not in out and not (work / "logs").exists(), out[-3000:]


@pytest.mark.integration
def test_era5_final_beats_era5t_duplicates(user_inputs):
    """The same months as final ERA5 (0001) and ERA5T (0005): the final values are kept, the months logged."""
    from twsrecon.data.grid import Grid
    from twsrecon.data.io.era5 import read_era5
    from twsrecon.data.timeaxis import months

    work, files, config = user_inputs
    clean = read_era5([files["avgua"], files["avgad"]], months("2021-01", "2021-12"))["tmp"].load()
    # The copies are the final values (0001); the file's own last three months are ERA5T (0005), x 1.01.
    def change(ds):
        final = with_duplicate_months(ds, "0001")
        n = ds.sizes["valid_time"]
        swap = final.isel(valid_time=list(range(n - 3)) + list(range(n, n + 3)) + list(range(n - 3, n)))
        for v in ("tp", "ssr", "t2m", "d2m", "sd"):  # put the true values on the 0001 copies
            if v in swap:
                swap[v][n - 3:n] = ds[v][n - 3:n].values
                swap[v][n:] = ds[v][n - 3:n].values * 1.01
        return swap
    rewrite(files["avgua"], change)
    with xr.open_dataset(files["avgua"]) as raw:
        stamps = pd.DatetimeIndex(raw["valid_time"].values).strftime("%Y-%m")
        assert list(stamps).count("2021-12") == 2 and set(raw["expver"].values[-6:]) == {"0001", "0005"}
    before = {k: sha256(p) for k, p in files.items()}
    got = read_era5([files["avgua"], files["avgad"]], months("2021-01", "2021-12"))["tmp"].load()
    np.testing.assert_array_equal(got.values, clean.values)  # the final values, not the ERA5T ones

    run_snakemake(work, CUBE, config=config)
    log = (work / "logs/prepare_cube.log").read_text()
    assert "ERA5T (expver 0005) values dropped for 3 month(s)" in log and "2021-10, 2021-11, 2021-12" in log, log
    assert (work / CUBE).exists()
    assert {k: sha256(p) for k, p in files.items()} == before


def test_era5_old_layout_duplicates_follow_the_same_rule(demo_world, tmp_path):
    """Pre-2024 layout: an expver dimension; a month with data in both versions keeps the final one."""
    from twsrecon.data.io.era5 import open_era5

    _, paths = demo_world
    with xr.open_dataset(paths["era5"][0]) as ds:
        ds = ds.load()
    ds = ds.drop_vars("expver").rename(valid_time="time", latitude="latitude")
    final = ds.expand_dims(expver=["0001"])
    era5t = (ds * 1.01).expand_dims(expver=["0005"])
    old = xr.concat([final, era5t], dim="expver")
    old = old.where((old["expver"] == "0001") | (old["time"] >= old["time"][-3]))  # ERA5T: last 3 months only
    old.to_netcdf(tmp_path / "old.nc")
    fields, _ = open_era5([tmp_path / "old.nc"])
    np.testing.assert_array_equal(fields["t2m"].values, ds["t2m"].values)
    # the same month twice as final ERA5 cannot be resolved: named with the layout's time name and expver values
    twice = xr.concat([final, final.isel(time=[-1])], dim="time")
    twice.to_netcdf(tmp_path / "twice.nc")
    with pytest.raises(Exception, match=r"variable 'time'.*cannot be resolved: 2021-12 \(expver 0001, 0001\)"):
        open_era5([tmp_path / "twice.nc"])
    # distinct time steps within one month of one version: not monthly data
    daily = final.assign_coords(time=final["time"].values.copy())
    daily["time"].values[-1] = daily["time"].values[-2] + np.timedelta64(1, "D")
    daily.to_netcdf(tmp_path / "daily.nc")
    with pytest.raises(Exception, match=r"variable 'time'.*time axis is not monthly"):
        open_era5([tmp_path / "daily.nc"])


@pytest.mark.integration
def test_zero_usable_regions_fail_naming_why(tmp_path):
    from conftest import TINY_DEMO

    config = {**TINY_DEMO, "regions": {"min_cells": 10000, "include": ["temperate_nodrywarmsum", "polar_tundra"]}}
    proc = run_snakemake(tmp_path, "results/regions/summary.csv", config=config, check=False)
    out = proc.stdout + proc.stderr + (tmp_path / "logs/region_summary.log").read_text()
    assert proc.returncode != 0
    assert "no usable region: all 2 were left out" in out, out[-3000:]
    for region in ("temperate_nodrywarmsum", "polar_tundra"):
        assert f"{region}: " in out and "usable cells < regions.min_cells = 10000" in out, out[-3000:]
    assert not (tmp_path / "results/regions/summary.csv").exists()


def test_era5_reader_checks_each_file_before_combining(user_inputs):
    """Without the check before any job (a downloaded file appears only when its job ran), the reader stops on
    the file that does not cover the domain, before the step-type files are combined (no NaN-filled rows)."""
    from twsrecon.data.grid import Grid
    from twsrecon.data.io.era5 import read_era5
    from twsrecon.data.timeaxis import months
    from twsrecon.errors import InputError

    _, files, config = user_inputs
    era5_half_domain(files, config)
    with pytest.raises(InputError) as err:
        read_era5([files["avgua"], files["avgad"]], months("2021-01", "2021-12"), grid=Grid.from_config(config["grid"]))
    assert str(err.value).startswith(f"file '{files['avgad']}', variable 'tp, ssr, e, ro': grid covers lat 38.125..")
    assert "but the analysis domain needs lat 30..46" in str(err.value)


def test_period_error_shows_both_values():
    from twsrecon.config import ConfigError, validate

    with pytest.raises(ConfigError, match=r"config key 'period.start': 2022-01 is after period.end 2021-12"):
        validate({"demo": {"enabled": True}, "period": {"start": "2022-01", "end": "2021-12"}})
