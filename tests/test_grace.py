"""JPL mascon specifics: the month rule, collisions, v03 names and pre-v03 separate files."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twsrecon.data.io.grace import assign_months, mascon_version, read_mascon
from twsrecon.errors import InputError


def test_month_rule():
    starts = pd.to_datetime(["2002-04-04", "2017-05-22", "2018-08-12", "2011-11-16", "2015-12-04"])
    ends = pd.to_datetime(["2002-05-01", "2017-06-29", "2018-09-21", "2011-12-30", "2016-01-05"])
    month, days = assign_months(starts, ends)
    assert [f"{m:%Y-%m}" for m in month] == ["2002-04", "2017-06", "2018-08", "2011-12", "2015-12"]
    assert days.tolist() == [27, 29, 20, 30, 28]
    # An upper bound at 00:00 on the 1st is exclusive: the solution ends in the month before.
    month, _ = assign_months(pd.to_datetime(["2005-03-16"]), pd.to_datetime(["2005-04-01"]))
    assert f"{month[0]:%Y-%m}" == "2005-03"


def test_version_from_name_or_title():
    ds = xr.Dataset(attrs={"title": "JPL GRACE and GRACE-FO MASCON RL06.1Mv03 CRI"})
    assert mascon_version("x.nc", ds) == "v03"
    assert mascon_version("GRCTellus.JPL.200204_202311.GLO.RL06.3M.MSCNv04CRI.nc", xr.Dataset()) == "v04"


@pytest.fixture
def mascon_copy(demo_world, tmp_path):
    _, paths = demo_world
    return xr.open_dataset(paths["grace"], decode_times=False, mask_and_scale=False).load(), tmp_path


def test_collision_is_reported_and_longest_solution_kept(mascon_copy):
    ds, tmp = mascon_copy
    tb = ds["time_bounds"].values.copy()
    # Move the 2005-03 solution so that it starts 2005-02-10: both it and 2005-02 claim February.
    t = pd.Timestamp("2002-01-01") + pd.to_timedelta(tb[:, 0], unit="D")
    k = int(np.flatnonzero(t == pd.Timestamp("2005-03-01"))[0])
    tb[k, 0] = (pd.Timestamp("2005-02-10") - pd.Timestamp("2002-01-01")).days
    tb[k, 1] = (pd.Timestamp("2005-02-20") - pd.Timestamp("2002-01-01")).days
    ds["time_bounds"].values[:] = tb
    ds.to_netcdf(tmp / "collide.nc")
    twsa, _, report = read_mascon(tmp / "collide.nc")
    assert len(report.collisions) == 1 and report.collisions[0].startswith("2005-02")
    assert "kept 2005-02-01" in report.collisions[0]
    assert "2005-03" in report.missing_in_span
    assert pd.DatetimeIndex(twsa["time"].values).is_unique


def test_pre_v03_separate_scale_factor_and_land_mask(mascon_copy):
    ds, tmp = mascon_copy
    ds[["scale_factor"]].to_netcdf(tmp / "CLM4.SCALE_FACTOR.JPL.MSCNv02CRI.nc")
    ds[["land_mask"]].to_netcdf(tmp / "LAND_MASK.CRI.nc")
    ds.drop_vars(["scale_factor", "land_mask"]).to_netcdf(tmp / "GRCTellus.JPL.200204_202112.GLO.RL06M.MSCNv02CRI.nc")
    main = tmp / "GRCTellus.JPL.200204_202112.GLO.RL06M.MSCNv02CRI.nc"
    with pytest.raises(InputError, match="scale_factor"):
        read_mascon(main, apply_scale_factor=True)
    twsa, land, _ = read_mascon(main, apply_scale_factor=True, scale_factor_path=tmp / "CLM4.SCALE_FACTOR.JPL.MSCNv02CRI.nc",
                                land_mask_path=tmp / "LAND_MASK.CRI.nc")
    assert land is not None
    ds.to_netcdf(tmp / "v03_style.nc")
    ref, _, _ = read_mascon(tmp / "v03_style.nc", apply_scale_factor=True)
    np.testing.assert_allclose(twsa.values, ref.values, equal_nan=True)

