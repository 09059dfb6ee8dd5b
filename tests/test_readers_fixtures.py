"""Every provider reader on the committed fixtures in tests/data (crops of the real files, or generated in the
documented layout where no real file exists; tests/data/README.md): these run without ../shared.

Expected values come from the raw files read by netCDF4, sqlite3 or plain text, or from the formulas the
fixture generator (tools/make_test_fixtures.py) used, never from the readers under test.
"""

import shutil
import sqlite3

import netCDF4
import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, sha256
from test_readers_real import to_old_layout

from twsrecon.data.grid import Grid, regrid
from twsrecon.data.io.era5 import open_era5
from twsrecon.data.io.grace import read_mascon, read_mascon_uncertainty
from twsrecon.data.io.koppen import read_beck_geotiff, read_koppen, read_kottek_ascii
from twsrecon.data.io.sif import read_sif
from twsrecon.data.timeaxis import months
from twsrecon.data.units import era5_to_canonical
from twsrecon.evaluation.external import read_external
from twsrecon.reconstruction.hyperparameters import read_published, read_published_lr
from twsrecon.regions.classes import BECK_CODES

ERA5 = [FIXTURES / "era5-cds" / "data_stream-moda_stepType-avgad.nc",
        FIXTURES / "era5-cds" / "data_stream-moda_stepType-avgua.nc"]


def raw(path, name):
    """A variable's stored values, masked and scaled by netCDF4 alone."""
    with netCDF4.Dataset(path) as ds:
        return np.ma.filled(ds[name][:].astype(float), np.nan)


def test_fixtures_are_small_and_documented():
    files = [p for p in FIXTURES.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 400_000
    readme = (FIXTURES / "README.md").read_text()
    for p in files:
        if p.name != "README.md":
            assert str(p.relative_to(FIXTURES)) in readme, p


# --- ERA5 monthly means from the CDS ------------------------------------------------------------------------


def test_era5_cds_2024_layout():
    before = [sha256(p) for p in ERA5]
    fields, sources = open_era5(ERA5)
    assert set(fields) == {"tp", "t2m"} and sources["tp"] == str(ERA5[0])
    expected = pd.date_range("2005-01-01", "2007-12-01", freq="MS")
    for var in ("tp", "t2m"):  # 06:00 (avgad) and 00:00 (avgua) stamps on the same months
        assert pd.DatetimeIndex(fields[var]["time"].values).equals(expected)
    with netCDF4.Dataset(ERA5[0]) as ds:
        assert ds["valid_time"][0] % 86400 == 6 * 3600 and list(ds["expver"][:3]) == ["0001"] * 3
        lat = ds["latitude"][:]
    assert np.all(np.diff(lat) < 0)  # stored north to south
    tp = raw(ERA5[0], "tp")
    np.testing.assert_array_equal(fields["tp"].values, tp)
    np.testing.assert_array_equal(fields["t2m"].values, raw(ERA5[1], "t2m"))
    assert fields["tp"].attrs["units"] == "m" and fields["t2m"].attrs["units"] == "K"
    pcp = era5_to_canonical(fields["tp"], "pcp", sources["tp"])  # mean daily total -> monthly total
    np.testing.assert_allclose(pcp.isel(time=1).values, tp[1] * 28, rtol=1e-6)  # February 2005
    np.testing.assert_allclose(pcp.isel(time=13).values, tp[13] * 28, rtol=1e-6)
    np.testing.assert_allclose(pcp.isel(time=0).values, tp[0] * 31, rtol=1e-6)
    # Regridding to an ascending 1 deg grid: a cell is the mean of the 0.25 deg cells weighted by their overlap
    # in sin(latitude) x longitude (the edge rows and columns half inside).
    out = regrid(fields["t2m"].isel(time=6), Grid(1.0, 14.0, 16.0, 104.0, 106.0)).compute()
    assert np.all(np.diff(out["lat"].values) > 0)
    with netCDF4.Dataset(ERA5[1]) as ds:
        lon = ds["longitude"][:]

    def overlap(lo, hi, a, b):
        return np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)

    sin = np.sin(np.deg2rad(np.clip(np.stack([lat - 0.125, lat + 0.125]), -90, 90)))
    wy = overlap(sin[0], sin[1], np.sin(np.deg2rad(15.0)), np.sin(np.deg2rad(16.0)))
    wx = overlap(lon - 0.125, lon + 0.125, 104.0, 105.0)
    w = wy[:, None] * wx[None, :]
    t2m = raw(ERA5[1], "t2m")[6]
    assert out.sel(lat=15.5, lon=104.5).item() == pytest.approx((w * t2m).sum() / w.sum(), rel=1e-6)
    assert [sha256(p) for p in ERA5] == before


def test_era5_pre_2024_layout_from_the_fixture(tmp_path):
    new, _ = open_era5([ERA5[1]])
    scale = to_old_layout(ERA5[1], tmp_path / "old.nc")
    with netCDF4.Dataset(tmp_path / "old.nc") as ds:
        assert ds["t2m"].dtype == np.int16 and "expver" in ds.dimensions and ds.file_format == "NETCDF3_64BIT_OFFSET"
    old, _ = open_era5([tmp_path / "old.nc"])
    assert "expver" not in old["t2m"].dims
    assert pd.DatetimeIndex(old["t2m"]["time"].values).equals(pd.DatetimeIndex(new["t2m"]["time"].values))
    np.testing.assert_allclose(old["t2m"].values, new["t2m"].values, atol=scale)


# --- the external TWSA product --------------------------------------------------------------------------------

REFERENCE = FIXTURES / "reference-products" / "reconstructed_grace_tws_v1.nc"


def test_external_product():
    da = read_external(REFERENCE, None, Grid(1.0, 20, 22, 76, 78))
    assert da.sizes == {"time": 244, "lat": 2, "lon": 2}
    t = pd.DatetimeIndex(da["time"].values)
    assert t[0] == pd.Timestamp("2002-04-01") and t[-1] == pd.Timestamp("2022-07-01") and t.is_unique
    with netCDF4.Dataset(REFERENCE) as ds:
        lat, lon = ds["lat"][:], ds["lon"][:]
        assert ds["time"].units == "days since 2002-04-01 00:00:00" and ds["lwe_thickness"].units == "cm"
    values = raw(REFERENCE, "lwe_thickness")
    # A 1 deg cell holds four 0.5 deg cells; their areas differ by cos(lat) only (< 0.4 % here).
    for k in (0, 100, 243):
        block = values[k][np.ix_((lat > 20) & (lat < 21), (lon > 76) & (lon < 77))]
        w = np.cos(np.deg2rad(lat[(lat > 20) & (lat < 21)]))[:, None] * np.ones((1, 2))
        assert da.isel(time=k, lat=0, lon=0).item() == pytest.approx((block * w).sum() / w.sum(), abs=1e-9)
    # Past the file's northern edge (22 N): NaN, not an error; no overlap at all is an error.
    north = read_external(REFERENCE, "lwe_thickness", Grid(0.5, 21.0, 23.0, 76.0, 77.0))
    assert np.isnan(north.sel(lat=22.25)).all() and np.isfinite(north.sel(lat=21.75)).all()
    np.testing.assert_allclose(north.sel(lat=21.75, lon=76.25).values, values[:, 3, 0])
    from twsrecon.errors import InputError

    with pytest.raises(InputError, match="does not overlap"):
        read_external(REFERENCE, "lwe_thickness", Grid(1.0, 40, 44, -10, -6))


# --- Köppen-Geiger --------------------------------------------------------------------------------------------

KOTTEK = FIXTURES / "koppen" / "Koeppen-Geiger-ASCII.txt"


def test_kottek_ascii():
    kg = read_kottek_ascii(KOTTEK)
    assert kg.shape == (360, 720) and kg.dtype == np.int16
    lines = [line.split() for line in KOTTEK.read_text().splitlines()]
    assert len(lines) == 354 and lines[0] == ["-89.75", "-179.75", "EF"]
    beck = {code: i for i, code in BECK_CODES.items()}
    for lat, lon, code in lines:  # every line lands on its cell with Beck's class number, As folded into Aw
        assert kg.sel(lat=float(lat), lon=float(lon)).item() == beck["Aw" if code == "As" else code]
    values, counts = np.unique(kg.values[kg.values > 0], return_counts=True)
    assert values.tolist() == list(range(1, 31)) and counts.sum() == 354
    assert counts[beck["Aw"] - 1] == 6 and counts[beck["Csa"] - 1] == 100 and counts[beck["Csb"] - 1] == 110
    assert kg.sel(lat=38.25, lon=-9.25).item() == 8 and kg.sel(lat=42.75, lon=-8.75).item() == 9  # Csa, Csb
    assert kg.sel(lat=0.25, lon=0.25).item() == 0  # not in the table: no class


BECK = FIXTURES / "koppen" / "koppen_geiger_0p5.tif"


def test_beck_geotiff():
    import rasterio

    with rasterio.open(BECK) as src:
        assert src.dtypes == ("uint8",) and src.crs.to_epsg() == 4326 and src.colormap(1)[30][3] == 255
    kg = read_koppen(BECK, "beck_geotiff")
    assert kg.dtype == np.int16 and kg.dims == ("lat", "lon")
    np.testing.assert_array_equal(kg["lat"].values, 30.25 + 0.5 * np.arange(6))  # stored north-up, read ascending
    np.testing.assert_array_equal(kg["lon"].values, 0.25 + 0.5 * np.arange(6))
    # The generator's classes: 1 + row-major index from the north-west corner, capped at 30, the last row's
    # rest ocean; south-up here.
    expected = np.minimum(np.arange(1, 37), 30).reshape(6, 6)
    expected[5, 1:] = 0
    np.testing.assert_array_equal(kg.values, expected[::-1])
    np.testing.assert_array_equal(read_beck_geotiff(BECK).values, kg.values)


# --- JPL mascons (generated: no real file here) -----------------------------------------------------------------

MASCON = FIXTURES / "grace" / "GRCTellus.JPL.200204_201906.GLO.RL06.3M.MSCNv04CRI.nc"


def test_mascon_months_fill_value_scale_factor_and_longitudes():
    twsa, land, report = read_mascon(MASCON, apply_scale_factor=True)
    twsa, land = twsa.compute(), land.compute()
    assert report.version == "v04" and not report.collisions
    with netCDF4.Dataset(MASCON) as ds:
        n = len(ds.dimensions["time"])
        assert ds["lwe_thickness"]._FillValue == -99999.0 and ds["time"].units == "days since 2002-01-01T00:00:00Z"
        assert netCDF4.num2date(ds["time"][0], ds["time"].units, "gregorian").isoformat() == "2002-04-17T12:00:00"
    got = pd.DatetimeIndex(twsa["time"].values)
    # formats/README.md's missing months (the last token, 2018-08-2018-09, is one solution: August).
    assert report.missing_in_span == report.months_missing_attr[:-2] + ["2018-09"]
    assert len(got) == n == 175 and got[0] == pd.Timestamp("2002-04-01") and got[-1] == pd.Timestamp("2019-06-01")
    assert pd.Timestamp("2017-06-01") in got and pd.Timestamp("2018-08-01") in got  # 05-22..06-29, 08-12..09-21
    assert not pd.date_range("2017-07-01", "2018-05-01", freq="MS").isin(got).any()
    # lon 0.25, 0.75, 359.25, 359.75 in the file -> -0.75, -0.25, 0.25, 0.75 ascending
    np.testing.assert_array_equal(twsa["lon"].values, [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_array_equal(land["lon"].values, [-0.75, -0.25, 0.25, 0.75])
    assert land.sel(lat=39.25, lon=-0.25).item() == 0 and land.sum().item() == 11
    # Value = (10 k / n + i + 0.1 j) x scale factor (1 + 0.25 j; NaN over the sea cell counts as 1), j the
    # file's column; the file's column 2 (359.25) is -0.75 here.
    k, i, j = 40, 1, 2
    sf = 1 + 0.25 * j
    assert twsa.sel(lon=-0.75).isel(time=k, lat=i).item() == pytest.approx((10 * k / n + i + 0.1 * j) * sf, rel=1e-6)
    assert twsa.sel(lat=39.25, lon=-0.25).isel(time=k).item() == pytest.approx(10 * k / n + 2 + 0.3, rel=1e-6)
    assert np.isnan(twsa.sel(lat=38.25, lon=0.25).isel(time=1).item())  # the stored -99999.0
    unscaled = read_mascon(MASCON)[0].compute()
    assert unscaled.sel(lon=-0.75).isel(time=k, lat=i).item() == pytest.approx(10 * k / n + i + 0.2, rel=1e-6)
    assert twsa.attrs["units"] == "cm"


def test_mascon_uncertainty_on_the_months_and_longitudes_of_the_twsa(tmp_path):
    """The stated 1-sigma error (the intervals' calibration takes it out) comes on the TWSA's own months and
    longitudes, unscaled; a file without it gives None."""
    twsa = read_mascon(MASCON, apply_scale_factor=True)[0]
    unc = read_mascon_uncertainty(MASCON).compute()
    np.testing.assert_array_equal(unc["time"].values, twsa["time"].values)
    np.testing.assert_array_equal(unc["lon"].values, twsa["lon"].values)
    assert unc.name == "twsa_uncertainty" and unc.attrs["units"] == "cm"
    assert float(unc.min()) == float(unc.max()) == 2.0  # the fixture's 2 cm, no CRI scale factor on it
    shutil.copy(MASCON, tmp_path / "no_uncertainty.nc")
    with netCDF4.Dataset(tmp_path / "no_uncertainty.nc", "a") as ds:
        ds.renameVariable("uncertainty", "not_uncertainty")
    assert read_mascon_uncertainty(tmp_path / "no_uncertainty.nc") is None


# --- SIF (generated: no real LCSIF sample here) ----------------------------------------------------------------


def test_sif():
    sif = read_sif(FIXTURES / "sif" / "LCSIF_monthly_fixture.nc", months("1982-03", "1983-02"))
    assert sif.sizes == {"time": 12, "lat": 2, "lon": 3} and sif.dtype == np.float32
    assert pd.Timestamp(sif["time"].values[0]) == pd.Timestamp("1982-03-01")  # mid-month stamps to month start
    np.testing.assert_allclose(sif.isel(lat=1, lon=2).values, 0.01 * np.arange(2, 14), rtol=1e-6)


# --- the published Optuna studies (Optuna 3.0.3 SQLite) --------------------------------------------------------

STUDIES = FIXTURES / "graice-hyperparameters"


def test_published_studies(tmp_path):
    originals = sorted(STUDIES.rglob("*.db"))
    before = {p: sha256(p) for p in originals}
    listing = sorted(STUDIES.rglob("*"))
    for p in originals:  # the authors' schema, not yet upgraded
        with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as con:
            assert con.execute("SELECT library_version FROM version_info").fetchone() == ("3.0.3",)
    hp = read_published(STUDIES, "polar_frost", "LSTM", tmp_path / "work")
    # The best COMPLETE trial of the original file (trial 166, MAE 0.3389), kept by the crop.
    assert hp.to_optuna_params() == {"units": 52, "window": 12, "learning_rate": 1.0240015487707467e-05,
                                     "n_layers": 1, "n_units_l0": 86}
    assert hp.source.endswith("trial 166, value 0.33888575434684753")
    # No-SIF studies are named ...noLCSIF inside files named ...noSIF; RUNNING trials (18, 42) do not count.
    nosif = read_published(STUDIES, "polar_frost", "LSTMnoSIF", tmp_path / "work")
    assert nosif.to_optuna_params() == {"units": 20, "window": 12, "learning_rate": 0.09184981805256082,
                                        "n_layers": 1, "n_units_l0": 99}
    assert read_published_lr(STUDIES, "polar_frost", "LSTM", tmp_path / "work") == 1.865646316464621e-06
    assert read_published_lr(STUDIES, "polar_tundra", "LSTM", tmp_path / "work") is None  # not re-tuned
    assert {p: sha256(p) for p in originals} == before
    assert sorted(STUDIES.rglob("*")) == listing  # no journal or copy beside them


def test_published_study_copy_is_upgraded(tmp_path):
    """The copy in the work folder is upgraded to this Optuna's schema; the original stays at 3.0.3."""
    copy_dir = tmp_path / "studies"
    shutil.copytree(STUDIES, copy_dir)
    read_published(copy_dir, "polar_frost", "LSTM", tmp_path / "work")
    for path, version in ((tmp_path / "work" / "polar_frost_OPTUNA_LSTM.db", "!="),
                          (copy_dir / "LSTM" / "polar_frost_OPTUNA_LSTM.db", "==")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            rev = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert (rev == "v3.0.0.d") == (version == "=="), (path, rev)


# --- a user's aridity-index map (generated in the Global-AI v3 layout: no real file here) ----------------------


def test_aridity_map_geotiff():
    from twsrecon.evaluation.aridity import read_aridity_map

    ai = read_aridity_map(FIXTURES / "aridity" / "ai_v3_yr.tif", None, 1e-4, Grid(0.5, 20.0, 21.0, 10.0, 11.0))
    assert ai.shape == (2, 2) and ai.dtype == np.float64
    # 30 arc-second pixels, value 1000 + 10 row + column from the north-west; a 0.5 deg cell is the mean over
    # its 60 x 60 pixels weighted by their area (the sin-latitude span of their row).
    edges = np.sin(np.deg2rad(21.0 - np.arange(121) / 120))
    w = edges[:-1] - edges[1:]
    for (lat, lon), rows, cols in (((20.75, 10.25), slice(0, 60), slice(0, 60)),
                                   ((20.25, 10.75), slice(60, 120), slice(60, 120))):
        r, c = np.arange(120)[rows], np.arange(120)[cols]
        expected = ((w[rows] * (1000 + 10 * r + c.mean())).sum() / w[rows].sum()) * 1e-4
        assert ai.sel(lat=lat, lon=lon).item() == pytest.approx(expected, rel=1e-9)
