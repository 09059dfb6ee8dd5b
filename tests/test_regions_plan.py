"""Every land cell gets a product (small classes train in a neighbour's region), regions without cells
cost no job, and settings the data cannot serve stop the run before any heavy job."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import TINY_DEMO, dry_run, run_snakemake

from twsrecon.data.io import read_csv
from twsrecon.regions.cells import own_cells, plan_cells, region_cells
from twsrecon.regions.classes import (BECK_CODES, CLASS_NOT_INCLUDED, CLASS_TOO_SMALL, FALLBACK_NEIGHBOURS,
                                      MISSING_PREDICTOR, MODEL_PREDICTORS, NEIGHBOURS, NO_GRACE, REGIONS, STATUS, USABLE,
                                      related_classes)
from twsrecon.regions.plan import PlanError, check_external_overlap, check_predictor_sets, pick_timeseries_regions

CODE = {code: cls for cls, code in BECK_CODES.items()}


# --- the neighbour lists and the plan of cells ------------------------------------------------------------


def test_every_class_has_an_ordered_neighbour_list_of_real_classes():
    assert set(FALLBACK_NEIGHBOURS) == set(BECK_CODES.values())
    for code, ns in FALLBACK_NEIGHBOURS.items():
        assert ns and code not in ns and len(set(ns)) == len(ns) and set(ns) <= set(BECK_CODES.values())
        assert ns[0][0] == code[0]  # the nearest climate first: the same main group
    # the issue's examples: same main group and precipitation type first
    assert FALLBACK_NEIGHBOURS["Csb"][0] == "Csa" and FALLBACK_NEIGHBOURS["Dwb"][0] == "Dwa"
    assert FALLBACK_NEIGHBOURS["EF"][0] == "ET"


def toy_cube(kg: np.ndarray, n_time=24) -> xr.Dataset:
    """A real (time, lat, lon) cube: complete predictors and GRACE everywhere, unless a test punches holes."""
    nlat, nlon = kg.shape
    rng = np.random.default_rng(0)
    data = {v: (("time", "lat", "lon"), rng.random((n_time, nlat, nlon)).astype(np.float32))
            for v in ("pcp", "tmp", "snow", "rad", "rh", "sif", "twsa")}
    return xr.Dataset(data, coords={"time": pd.date_range("2002-01-01", periods=n_time, freq="MS"),
                                    "lat": np.arange(nlat) + 0.5, "lon": np.arange(nlon) + 0.5})


def test_a_small_class_joins_the_first_neighbour_with_enough_cells():
    csa, csb, cfb, et, ef = (CODE[c] for c in ("Csa", "Csb", "Cfb", "ET", "EF"))
    kg = np.array([[csa, csa, csa, csb, csb],
                   [cfb, cfb, cfb, et, et],
                   [ef, et, 0, CODE["Csc"], cfb]])
    cube = toy_cube(kg)
    plan = plan_cells(cube, kg, list(REGIONS), min_cells=3, fallback=True)
    assert plan.usable[csb] == 2 and plan.targets[csb] == csa  # Csb -> Csa
    assert plan.targets[ef] == et and plan.targets[et] == et  # EF -> ET (3 cells)
    assert plan.targets[CODE["Csc"]] == csa  # Csc is no region: its cells always join one (Csb is small)
    assert (plan.region[0, 3:] == csa).all() and plan.fallback[0, 3:].all() and not plan.fallback[0, :3].any()
    assert plan.status[2, 2] == STATUS.index("not_land") and (plan.status[kg > 0] == USABLE).all()

    off = plan_cells(cube, kg, list(REGIONS), min_cells=3, fallback=False)
    assert (off.status[0, 3:] == CLASS_TOO_SMALL).all() and (off.region[0, 3:] == 0).all()
    assert off.status[2, 0] == CLASS_TOO_SMALL and off.status[2, 3] == CLASS_NOT_INCLUDED  # EF; Csc
    # Csa left out of regions.include: its cells are not reconstructed, and Csb goes on to Cfb
    inc = [r for r in REGIONS if r != "temperate_dryhotsummer"]
    plan = plan_cells(cube, kg, inc, min_cells=3, fallback=True)
    assert (plan.status[0, :3] == CLASS_NOT_INCLUDED).all() and plan.targets[csb] == cfb


def test_unusable_cells_say_why_and_do_not_count():
    dwa, dwb = CODE["Dwa"], CODE["Dwb"]
    kg = np.array([[dwa, dwa, dwa, dwa], [dwb, dwb, dwb, dwb]])
    cube = toy_cube(kg)
    cube["snow"][3, 0, 0] = np.nan  # one month of one predictor missing
    cube["twsa"][:, 0, 1] = np.nan  # no GRACE month at all
    cube["sif"][:, 1, 3] = np.nan
    plan = plan_cells(cube, kg, list(REGIONS), min_cells=3, fallback=True)
    assert plan.status[0, 0] == MISSING_PREDICTOR and plan.missing[0, 0] == 2  # METEO index of snow
    assert plan.status[0, 1] == NO_GRACE
    assert plan.usable[dwa] == 2 and plan.targets[dwa] == dwb  # Dwa too small now: -> Dwb (its first)
    assert NEIGHBOURS[dwa][0] == dwb and not plan.has_sif[1, 3]
    ds = region_cells(cube, xr.DataArray(kg), "continental_drywinwarmsum", 3).dataset
    assert ds.sizes["cell"] == 6 and int(ds["fallback"].sum()) == 2 and ds.attrs["moved_in_from"] == "Dwa:2"
    assert ds.attrs["cells_moved_in"] == 2 and set(ds["kg_class"].values.tolist()) == {dwa, dwb}
    assert set(ds["kg_class"].values[own_cells(ds)].tolist()) == {dwb} and len(own_cells(ds)) == 4  # tuned on
    small = region_cells(cube, xr.DataArray(kg), "continental_drywinhotsum", 3).dataset
    assert small.sizes["cell"] == 0 and small.attrs["moved_to"] == "continental_drywinwarmsum"
    assert small.attrs["cells_moved_out"] == 2 and "(regions.fallback)" in small.attrs["exclusion_reason"]
    # a region job reads only the classes that decide its cells
    assert related_classes(dwb) >= {dwa, dwb, CODE["Dwc"]}


def test_timeseries_regions_are_checked_against_the_cells():
    table = pd.DataFrame({"region": ["a", "b", "c"], "cells": [6, 0, 4], "cells_moved_in": [2, 0, 0],
                          "cells_moved_out": [0, 0, 0], "cells_in_class": [4, 0, 4], "kg_code": ["Am", "BWk", "Aw"]})
    assert pick_timeseries_regions(table, [], 2) == ["a", "c"]  # ties keep the table's order
    assert pick_timeseries_regions(table, ["c"]) == ["c"]
    with pytest.raises(PlanError, match=r"evaluation.timeseries_regions.*b \(0 cells of class BWk.*Regions "
                                        r"with cells: a, c") as err:
        pick_timeseries_regions(table, ["a", "b", "z"])
    assert "z (not in regions.include)" in str(err.value)


# --- the early checks, on real files ----------------------------------------------------------------------


def era5_file(path, variables, lat=(30.5, 31.5), lon=(-6.5, -5.5)):
    ds = xr.Dataset({v: (("valid_time", "latitude", "longitude"), np.zeros((2, len(lat), len(lon)), np.float32))
                     for v in variables},
                    coords={"valid_time": pd.date_range("2000-01-01", periods=2, freq="MS"),
                            "latitude": list(lat), "longitude": list(lon)})
    ds.to_netcdf(path)
    return str(path)


def test_a_predictor_set_needing_variables_the_files_lack_is_named(tmp_path):
    files = [era5_file(tmp_path / "avgua.nc", ["t2m", "d2m", "sd"]), era5_file(tmp_path / "avgad.nc", ["tp", "ssr"])]
    sets = {"all": ["pcp", "tmp", "snow", "rad", "rh", "sif"], "paper": ["pcp", "tmp", "cwsc", "model_twsa"]}
    with pytest.raises(PlanError) as err:
        check_predictor_sets(sets, files)
    msg = str(err.value)
    assert "gapfill.predictor_sets.paper uses cwsc, which needs the ERA5 variable(s) e, ro" in msg
    assert "model_twsa, which needs the ERA5 variable(s) swvl1, swvl2, swvl3, swvl4" in msg
    assert "avgad.nc" in msg and "hold only d2m, sd, ssr, t2m, tp" in msg
    check_predictor_sets({"all": sets["all"]}, files)  # the five forcings are enough for it
    with pytest.raises(PlanError, match="models.types.LSTMwb uses cwsc_dev, which needs the ERA5 variable"):
        check_predictor_sets({m: MODEL_PREDICTORS[m] for m in ("LSTM", "LSTMwb")}, files, "models.types")
    check_predictor_sets({"LSTMnoSIF": MODEL_PREDICTORS["LSTMnoSIF"]}, files, "models.types")


def test_an_external_product_outside_the_domain_is_named(tmp_path):
    grid = {"resolution": 1.0, "lat_min": 30, "lat_max": 46, "lon_min": -14, "lon_max": 14}
    far = tmp_path / "far.nc"
    xr.Dataset({"lwe_thickness": (("time", "lat", "lon"), np.zeros((2, 3, 3)), {"units": "cm"})},
               coords={"time": ("time", [0, 31], {"units": "days since 2005-01-01"}),
                       "lat": [-55.5, -54.5, -53.5], "lon": [100.5, 101.5, 102.5]}).to_netcdf(far)
    with pytest.raises(PlanError, match=r"evaluation.external.far.*far.nc \(lwe_thickness\) covers lat "
                                        r"-55.5..-53.5, lon 100.5..102.5, which does not overlap the domain"):
        check_external_overlap("far", {"path": str(far), "variable": None}, grid)
    near = tmp_path / "near.nc"
    xr.Dataset({"lwe_thickness": (("time", "lat", "lon"), np.zeros((2, 2, 2)), {"units": "cm"})},
               coords={"time": ("time", [0, 31], {"units": "days since 2005-01-01"}),
                       "lat": [40.5, 41.5], "lon": [350.5, 351.5]}).to_netcdf(near)  # 0..360: -9.5, -8.5
    check_external_overlap("near", {"path": str(near), "variable": None}, grid)


@pytest.mark.integration
def test_dry_run_stops_on_settings_the_files_cannot_serve(demo_world, tmp_path):
    """Non-zero exit of the dry run itself (no job runs), naming the setting, the file and what it lacks."""
    spec, paths = demo_world
    avgad = tmp_path / "avgad.nc"
    with xr.open_dataset(paths["era5"][1]) as ds:
        ds.drop_vars(["e", "ro"]).to_netcdf(avgad)
    config = {
        "grid": {"resolution": 1.0, "lat_min": spec.lat_min, "lat_max": spec.lat_max,
                 "lon_min": spec.lon_min, "lon_max": spec.lon_max},
        "demo": {"enabled": False},
        "inputs": {"grace": {"path": str(paths["grace"]), "apply_scale_factor": True},
                   "era5": {"paths": [str(paths["era5"][0]), str(avgad)]},
                   "sif": {"path": str(paths["sif"])},
                   "koppen": {"path": str(paths["koppen"]), "format": "beck_geotiff"}},
        "gapfill": {"predictor_sets": {"all": ["pcp", "tmp", "snow", "rad", "rh", "sif"],
                                       "paper": ["pcp", "tmp", "cwsc", "model_twsa"]}},
    }
    proc = run_snakemake(tmp_path, "-n", config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'gapfill.predictor_sets'" in out and "paper uses cwsc" in out and "e, ro" in out
    assert str(avgad) in out and "Job stats" not in out
    # model_twsa alone is served by these files (swvl1-4 are in the other step type's file)
    config["gapfill"]["predictor_sets"]["paper"] = ["pcp", "tmp", "model_twsa"]
    assert run_snakemake(tmp_path, "-n", config=config, check=False).returncode == 0

    far = tmp_path / "far.nc"
    xr.Dataset({"lwe_thickness": (("time", "lat", "lon"), np.zeros((2, 2, 2)), {"units": "cm"})},
               coords={"time": ("time", [0, 31], {"units": "days since 2005-01-01"}),
                       "lat": [-55.5, -54.5], "lon": [100.5, 101.5]}).to_netcdf(far)
    config["evaluation"] = {"external": {"far": {"path": str(far)}}}
    proc = run_snakemake(tmp_path, "-n", config=config, check=False)
    assert proc.returncode != 0 and "config key 'evaluation.external.far'" in proc.stdout + proc.stderr
    assert "does not overlap the domain" in proc.stdout + proc.stderr


# --- a small domain: absent regions, one small class ------------------------------------------------------

# One row of 2-degree demo patches: Af (2 land cells: the coast takes the rest), Am, Aw, BWh (4 each);
# the other 24 regions are absent.
SMALL = {**TINY_DEMO, "grid": {"resolution": 1.0, "lat_min": 30, "lat_max": 32, "lon_min": -7, "lon_max": 1},
         "regions": {"min_cells": 4}, "models": {**TINY_DEMO["models"], "types": ["LSTM"]}}
TRAINED = {"tropical_monsoon", "tropical_savannah", "arid_deserthot"}


@pytest.fixture(scope="module")
def small_domain(tmp_path_factory):
    work = tmp_path_factory.mktemp("small")
    fresh = dry_run(work, config=SMALL)  # no region summary yet: every region of regions.include
    run_snakemake(work, "results/regions/summary.csv", config=SMALL)  # the light first stage
    exact = dry_run(work, config=SMALL)
    run_snakemake(work, "results/reconstruction/LSTM.nc", config=SMALL)
    return work, fresh, exact


def regions_of(jobs, rule):
    return {dict(wc)["region"] for r, wc in jobs if r == rule}


@pytest.mark.integration
def test_regions_without_cells_plan_no_job(small_domain):
    work, fresh, exact = small_domain
    assert len(regions_of(fresh, "hyperparameters")) == 28  # the upper bound before the summary exists
    counts = {}
    for rule, _ in exact:
        counts[rule] = counts.get(rule, 0) + 1
    # 3 regions train (Af's cells train in Am), 1 model type, 1 chunk; BCNN and evaluation as usual
    assert {k: counts.get(k, 0) for k in ("region_cells", "region_summary", "split", "hyperparameters",
                                          "train_chunk", "retune_lr", "merge_reconstruction", "timeseries_figure")} == \
        {"region_cells": 0, "region_summary": 0, "split": 3, "hyperparameters": 3, "train_chunk": 3, "retune_lr": 3,
         "merge_reconstruction": 1, "timeseries_figure": 4}
    for rule in ("split", "hyperparameters", "train_chunk", "retune_lr"):
        assert regions_of(exact, rule) == TRAINED
    # evaluation.timeseries_regions left empty: the four regions with the most cells of their own
    assert regions_of(exact, "timeseries_figure") == TRAINED | {"tropical_rainforest"}


@pytest.mark.integration
def test_every_land_cell_has_a_reconstruction_and_the_moves_are_listed(small_domain):
    work, _, _ = small_domain
    table = read_csv(work / "results/regions/summary.csv").set_index("region")
    assert table.loc["tropical_rainforest", "moved_to"] == "tropical_monsoon"
    assert table.loc["tropical_rainforest", "cells_moved_out"] == 2 and not table.loc["tropical_rainforest", "included"]
    assert table.loc["tropical_monsoon", "moved_in_from"] == "Af:2" and table.loc["tropical_monsoon", "cells"] == 6
    assert set(table.index[table["included"]]) == TRAINED
    ds = xr.open_dataset(work / "results/reconstruction/LSTM.nc")
    land = ds["kg_class"].values > 0
    reconstructed = np.isfinite(ds["twsa"].values).any(0)
    assert land.sum() == 14 and (reconstructed == land).all()
    assert (ds["cell_status"].values[land] == 0).all()
    assert (ds["cell_status"].values[~land] == STATUS.index("not_land")).all()
    af = ds["kg_class"].values == CODE["Af"]
    assert (ds["fallback"].values[af] == 1).all() and (ds["kg_region"].values[af] == CODE["Am"]).all()
    assert (ds["fallback"].values[land & ~af] == 0).all()
    assert ds["cell_status"].attrs["flag_meanings"].split() == list(STATUS)
    assert "2 of them by fallback" in (work / "logs/merge_reconstruction/LSTM.log").read_text()


@pytest.mark.integration
def test_timeseries_region_without_cells_stops_before_any_heavy_job(small_domain):
    work, _, _ = small_domain
    cfg = {**SMALL, "evaluation": {"timeseries_regions": ["tropical_monsoon", "polar_frost"]}}
    proc = run_snakemake(work, "--cores", "1", config=cfg, check=False)
    assert proc.returncode != 0
    log = (work / "logs/region_summary.log").read_text()
    assert "config key 'evaluation.timeseries_regions'" in log and "polar_frost (0 cells of class EF" in log
    assert "Regions with cells: tropical_rainforest, tropical_monsoon" in log
    assert not (work / "logs/bcnn").exists() and not (work / "results/evaluation").exists()


@pytest.mark.integration
def test_with_the_fallback_off_the_product_says_why_a_cell_is_nan(small_domain):
    work, _, _ = small_domain
    cfg = {**SMALL, "regions": {**SMALL["regions"], "fallback": False}}
    run_snakemake(work, "results/reconstruction/LSTM.nc", config=cfg)
    ds = xr.open_dataset(work / "results/reconstruction/LSTM.nc")
    af = ds["kg_class"].values == CODE["Af"]
    assert af.sum() == 2 and np.isnan(ds["twsa"].values[:, af]).all()
    assert (ds["cell_status"].values[af] == CLASS_TOO_SMALL).all() and (ds["fallback"].values[af] == -1).all()
    others = (ds["kg_class"].values > 0) & ~af
    assert (ds["cell_status"].values[others] == 0).all() and (ds["fallback"].values[others] == 0).all()
    table = read_csv(work / "results/regions/summary.csv").set_index("region")
    assert table.loc["tropical_monsoon", "cells"] == 4 and table.loc["tropical_rainforest", "cells_moved_out"] == 0


def test_region_datasets_carry_the_water_balance_predictors_for_the_wb_model_types():
    from twsrecon.data.derived import predictor_field
    from twsrecon.reconstruction.fitting import features_of, region_cells_for

    csa = CODE["Csa"]
    kg = np.full((2, 3), csa)
    cube = toy_cube(kg)
    for v in ("et", "runoff", "storage"):
        cube[v] = cube["pcp"] * 0.3
    cube["et"][:, 0, 1] = np.nan  # one cell without ERA5 evaporation: no cwsc_dev, so no wb model there
    kg_da = xr.DataArray(kg, dims=("lat", "lon"), coords={"lat": cube["lat"], "lon": cube["lon"]})
    ds = region_cells(cube, kg_da, "temperate_dryhotsummer", min_cells=3).dataset
    # cwsc_dev crosses zero: float32 storage's error is relative to the series' scale, not to each month's value
    dev = predictor_field(cube, "cwsc_dev")[:, 0, 0]
    np.testing.assert_allclose(ds["cwsc_dev"].values[:, 0], dev, rtol=0, atol=1e-6 * np.abs(dev).max())
    np.testing.assert_allclose(ds["model_twsa"].values[:, 2], predictor_field(cube, "model_twsa")[:, 0, 2], rtol=1e-5)
    assert ds["has_water_balance"].values.tolist() == [1, 0, 1, 1, 1, 1]
    assert region_cells_for(ds, "LSTMwb").sizes["cell"] == 5 and region_cells_for(ds, "LSTMnoSIF").sizes["cell"] == 6
    assert features_of("LSTMwb") == ("pcp", "tmp", "snow", "rad", "rh", "cwsc_dev", "model_twsa")
    # a cube without the fields: the authors' model types train as before, a wb type says what is missing
    plain = region_cells(toy_cube(kg), kg_da, "temperate_dryhotsummer", min_cells=3).dataset
    assert "cwsc_dev" not in plain and region_cells_for(plain, "LSTM").sizes["cell"] == 6
    with pytest.raises(ValueError, match="needs cwsc_dev and model_twsa.*ERA5 e, ro and swvl1-4"):
        region_cells_for(plain, "BiLSTMwb")
