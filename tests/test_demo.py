"""The demo world is written in the providers' formats and reads back through the same readers."""

import numpy as np
import pandas as pd
import xarray as xr

from twsrecon.data.demo import DemoSpec, layout
from twsrecon.data.demo_world import generate
from twsrecon.data.io.era5 import read_era5
from twsrecon.data.io.grace import parse_months_missing, read_mascon
from twsrecon.data.io.koppen import read_beck_geotiff
from twsrecon.data.io.sif import read_sif
from twsrecon.data.timeaxis import months
from twsrecon.regions.classes import REGIONS

PERIOD = months("1982-01", "2021-12")


def test_mascon_layout_and_months(demo_world):
    _, paths = demo_world
    with xr.open_dataset(paths["grace"], decode_times=False, mask_and_scale=False) as raw:
        assert raw["lwe_thickness"].attrs["_FillValue"] == -99999.0
        assert raw["lwe_thickness"].attrs["units"] == "cm"
        assert raw["time"].attrs["units"] == "days since 2002-01-01T00:00:00Z"
        assert raw["lon"].min() >= 0 and raw["lon"].max() < 360 and np.all(np.diff(raw["lon"].values) > 0)
        assert np.all(np.diff(raw["lat"].values) > 0)
        assert {"time_bounds", "land_mask", "scale_factor", "mascon_ID", "uncertainty"} <= set(raw.variables)
        assert "2018-08-2018-09" in raw.attrs["months_missing"]
        file_lon = raw["lon"].values
    twsa, land, report = read_mascon(paths["grace"], apply_scale_factor=True)
    got = pd.DatetimeIndex(twsa["time"].values)
    assert got[0] == pd.Timestamp("2002-04-01") and got[-1] == pd.Timestamp("2021-12-01")
    assert not report.collisions
    # The solution spanning 2018-08-12..2018-09-21 starts before the 15th: it is August.
    assert pd.Timestamp("2018-08-01") in got and pd.Timestamp("2018-09-01") not in got
    # The solution 2017-05-22..2017-06-29 starts after the 15th: June.
    assert pd.Timestamp("2017-06-01") in got
    gap = pd.date_range("2017-07-01", "2018-05-01", freq="MS")
    assert not gap.isin(got).any()
    attr = set(report.months_missing_attr)
    assert set(report.missing_in_span) == attr - {"2018-08"}
    # JPL's 0..360 becomes -180..180, ascending: the demo domain is one block of 0.5 deg cells across 0 E.
    expected = np.sort(np.where(file_lon >= 180, file_lon - 360, file_lon))
    np.testing.assert_array_equal(twsa["lon"].values, expected)
    assert expected[0] < 0 < expected[-1] and np.all(np.diff(expected) == 0.5)
    np.testing.assert_array_equal(land["lon"].values, expected)


def test_mascon_observations_are_truth_plus_noise(demo_world):
    spec, paths = demo_world
    from twsrecon.data.grid import regrid

    twsa, _, _ = read_mascon(paths["grace"], apply_scale_factor=True)
    obs = regrid(twsa, spec.domain(1.0)).compute()
    truth = xr.open_dataset(paths["truth"])["twsa"].sel(time=obs["time"])
    diff = (obs - truth).values
    land = np.isfinite(truth.values)
    ordinary = ~obs["time"].to_index().strftime("%Y-%m").isin(["2002-04", "2011-12", "2015-12", "2016-05",
                                                                "2017-06", "2018-06", "2018-08"])
    d = diff[ordinary][land[ordinary]]
    assert abs(np.nanmean(d)) < 0.3 and 0.2 < np.nanstd(d) < 3 * spec.noise_cm
    raw, _, _ = read_mascon(paths["grace"], apply_scale_factor=False)
    assert not np.allclose(raw.values, twsa.values, equal_nan=True)  # the CRI scale factors matter


def test_era5_layout(demo_world):
    _, paths = demo_world
    avgua, avgad = paths["era5"]
    with xr.open_dataset(avgad, decode_times=False) as raw:
        assert raw["valid_time"].dtype == np.int64 and raw["valid_time"].attrs["units"] == "seconds since 1970-01-01"
        assert raw["valid_time"].values[0] % 86400 == 6 * 3600  # accumulations stamped 06:00
        assert "expver" in raw.coords and raw["expver"].dims == ("valid_time",) and "number" in raw.coords
        assert np.all(np.diff(raw["latitude"].values) < 0)
        assert raw["tp"].attrs["units"] == "m" and raw["ssr"].attrs["units"] == "J m**-2"
        assert raw["tp"].encoding["coordinates"] == "number valid_time latitude longitude expver"
    with xr.open_dataset(avgua, decode_times=False) as raw:
        assert raw["valid_time"].values[0] % 86400 == 0
        assert {"t2m", "d2m", "sd"} <= set(raw.data_vars)
    ds = read_era5(paths["era5"], PERIOD)
    assert set(ds.data_vars) == {"pcp", "tmp", "snow", "rad", "rh", "et", "runoff", "storage"}
    # ERA5 evaporation is negative (upward); ET is positive. Storage is soil water plus snow.
    assert float(ds["et"].mean()) > 0 and float(ds["runoff"].min()) >= 0
    with xr.open_dataset(avgua) as raw:
        soil = sum(raw[f"swvl{i}"] * d for i, d in zip(range(1, 5), (0.07, 0.21, 0.72, 1.89)))
        expected = (soil + raw["sd"]).isel(valid_time=5).values[::-1]  # file latitude descending
    np.testing.assert_allclose(ds["storage"].isel(time=5).sortby("lat").values, expected, rtol=1e-5)
    pcp = ds["pcp"].mean(("lat", "lon")).compute()
    assert 0.005 < float(pcp.mean()) < 0.3  # m per month
    rh = ds["rh"].compute()
    assert float(rh.min()) >= 0 and float(rh.max()) <= 100


def test_sif_and_koppen(demo_world):
    spec, paths = demo_world
    sif = read_sif(paths["sif"], PERIOD)
    assert sif.sizes["time"] == 480 and 0 < float(sif.mean()) < 2
    kg = read_beck_geotiff(paths["koppen"])
    with __import__("rasterio").open(paths["koppen"]) as src:
        assert src.dtypes[0] == "uint8" and src.colormap(1)[1] is not None and src.crs.to_epsg() == 4326
    present = set(np.unique(kg.values)) - {0}
    assert set(REGIONS.values()) <= present
    assert (kg.values == 0).any()  # the coast


def test_generation_is_deterministic(tmp_path, demo_world):
    spec, paths = demo_world
    again = generate(spec, spec.domain(1.0), tmp_path, config={"test": True})
    for role in ("grace", "sif", "truth"):
        a = xr.open_dataset(paths[role], decode_times=False)
        b = xr.open_dataset(again[role], decode_times=False)
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    other = generate(DemoSpec(seed=spec.seed + 1), spec.domain(1.0), tmp_path / "other")
    assert not np.allclose(xr.open_dataset(other["truth"])["twsa"], xr.open_dataset(paths["truth"])["twsa"],
                           equal_nan=True)


def test_truth_depends_on_lagged_forcing(demo_world):
    """TWSA integrates the forcing: it lags precipitation and has memory, as a storage should."""
    spec, paths = demo_world
    truth = xr.open_dataset(paths["truth"])["twsa"]
    ds = read_era5(paths["era5"], PERIOD)
    from twsrecon.data.grid import regrid

    pcp = regrid(ds["pcp"], spec.domain(1.0)).compute()
    r = layout(spec).tolist()
    row, col = [(i, j) for i in range(4) for j in range(7) if r[i][j] == REGIONS["temperate_nodrywarmsum"]][0]
    cell = dict(lat=row * 4 + 1, lon=col * 4 + 1)
    y = truth.isel(**cell).values
    p = pcp.isel(**cell).values
    anom = lambda x: x - np.tile(x.reshape(-1, 12).mean(0), len(x) // 12)  # noqa: E731
    ya, pa = anom(y), anom(p)
    lag0 = np.corrcoef(ya[1:], pa[1:])[0, 1]
    accumulated = np.convolve(pa, np.exp(-np.arange(24) / 6.0))[: len(pa)]
    assert np.corrcoef(ya, accumulated)[0, 1] > lag0 + 0.1
    assert np.corrcoef(ya[1:], ya[:-1])[0, 1] > 0.7  # storage memory


def test_months_missing_parser():
    assert parse_months_missing("2017-12;2018-01;2018-08-2018-09") == ["2017-12", "2018-01", "2018-08", "2018-09"]
