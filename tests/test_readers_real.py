"""Readers on the real providers' files in ../shared/data (skipped when ../shared is absent)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import sha256

from twsrecon.data.grid import Grid, regrid
from twsrecon.data.io.era5 import open_era5
from twsrecon.data.io.koppen import read_kottek_ascii
from twsrecon.data.units import era5_to_canonical
from twsrecon.regions.classes import BECK_CODES


@pytest.fixture(scope="module")
def cds_files(shared_data):
    d = shared_data / "era5-cds"
    return [d / "data_stream-moda_stepType-avgad.nc", d / "data_stream-moda_stepType-avgua.nc"]


def test_cds_2024_layout_months_units_and_latitude(cds_files):
    before = [sha256(p) for p in cds_files]
    fields, sources = open_era5(cds_files)
    assert set(fields) == {"tp", "t2m"}
    expected = pd.date_range("2005-01-01", "2024-12-01", freq="MS")
    for var in ("tp", "t2m"):
        # 06:00 (avgad) and 00:00 (avgua) stamps land on the same calendar months.
        assert pd.DatetimeIndex(fields[var]["time"].values).equals(expected)
    assert fields["tp"].attrs["units"] == "m" and fields["t2m"].attrs["units"] == "K"
    with xr.open_dataset(cds_files[0]) as raw:
        assert np.all(np.diff(raw["latitude"].values) < 0)  # the file stores latitude descending
        raw_tp = raw["tp"].isel(valid_time=1).values  # February 2005
    pcp = era5_to_canonical(fields["tp"], "pcp", sources["tp"])
    np.testing.assert_allclose(pcp.isel(time=1).values, raw_tp * 28, rtol=1e-6)
    # Descending latitude is handled: regridding to an ascending grid keeps the north in the north.
    out = regrid(fields["t2m"].isel(time=6), Grid(0.5, 8.0, 23.5, 102.0, 110.5))
    assert np.all(np.diff(out["lat"].values) > 0)
    north = float(fields["t2m"].isel(time=6).sel(lat=slice(23.5, 22.0)).mean())
    assert float(out.isel(lat=slice(-3, None)).mean()) == pytest.approx(north, abs=0.5)
    assert [sha256(p) for p in cds_files] == before  # inputs never modified


def to_old_layout(src, dst, with_expver=True):
    """Rewrite a CDS 2024+ file the way the CDS delivered netCDF before 2024 (grib_to_netcdf)."""
    ds = xr.open_dataset(src)
    var = [v for v in ds.data_vars][0]
    ds = ds.drop_vars(["number", "expver"]).rename(valid_time="time")
    t = pd.DatetimeIndex(ds["time"].values).normalize()  # grib_to_netcdf stamps 00:00
    ds = ds.assign_coords(time=t)
    da = ds[var]
    if with_expver:
        # ERA5 final for all but the last 3 months, ERA5T (expver 5) for those.
        final = da.where(da["time"] < t[-3])
        prelim = da.where(da["time"] >= t[-3])
        da = xr.concat([final, prelim], dim=pd.Index(np.int32([1, 5]), name="expver")).transpose(
            "time", "expver", "latitude", "longitude")
    vmin, vmax = float(da.min()), float(da.max())
    scale = (vmax - vmin) / (2**16 - 4)
    offset = vmin + scale * 32766
    out = xr.Dataset({var: da}, attrs={"Conventions": "CF-1.6"})
    out[var].attrs = {"units": ds[var].attrs["units"], "long_name": ds[var].attrs["long_name"]}
    out.to_netcdf(dst, format="NETCDF3_64BIT", encoding={
        var: {"dtype": "int16", "scale_factor": scale, "add_offset": offset, "_FillValue": np.int16(-32767),
              "missing_value": np.int16(-32767)},
        "time": {"units": "hours since 1900-01-01 00:00:00.0", "calendar": "gregorian", "dtype": "int32"}})
    return scale


def test_pre_2024_layout_packed_shorts_and_expver(cds_files, tmp_path):
    new, _ = open_era5([cds_files[1]])
    old_path = tmp_path / "era5_old.nc"
    scale = to_old_layout(cds_files[1], old_path)
    with xr.open_dataset(old_path, mask_and_scale=False) as raw:
        assert raw["t2m"].dtype == np.int16 and "expver" in raw.dims
    with xr.open_dataset(old_path, decode_times=False) as raw:
        assert raw["time"].dtype == np.int32 and raw["time"].attrs["units"].startswith("hours since 1900")
    old, _ = open_era5([old_path])
    assert "expver" not in old["t2m"].dims
    assert pd.DatetimeIndex(old["t2m"]["time"].values).equals(pd.DatetimeIndex(new["t2m"]["time"].values))
    np.testing.assert_allclose(old["t2m"].values, new["t2m"].values, atol=scale)


def test_kottek_ascii_classes_after_folding(shared_data):
    path = shared_data / "koppen" / "Koeppen-Geiger-ASCII.txt"
    before = sha256(path)
    kg = read_kottek_ascii(path)
    assert kg.shape == (360, 720)
    values, counts = np.unique(kg.values[kg.values > 0], return_counts=True)
    assert len(values) == 30 and values.min() == 1 and values.max() == 30
    by_code = {BECK_CODES[int(v)]: int(c) for v, c in zip(values, counts)}
    expected = {"EF": 27505, "Dfc": 9569, "ET": 8264, "BWh": 7220, "Aw": 5716 + 304, "Dfb": 4315, "BSh": 3238,
                "BSk": 3126, "Cfa": 2731, "Af": 2457, "Dwc": 2304, "Cfb": 2262, "BWk": 2108, "Am": 1963,
                "Cwa": 1664, "Dfd": 1178, "Csa": 1035, "Csb": 874, "Cwb": 647, "Dwb": 612, "Dfa": 598, "Dwd": 584,
                "Dsc": 532, "Dwa": 342, "Dsb": 285, "Cfc": 222, "Dsa": 121, "Csc": 24, "Cwc": 16, "Dsd": 12}
    assert by_code == expected
    assert sum(counts) == 91828
    # A known cell: the South Pole row is ice cap (EF = 30).
    assert kg.sel(lat=-89.75, lon=-179.75).item() == 30
    assert sha256(path) == before
