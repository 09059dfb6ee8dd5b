import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twsrecon.data.units import dewpoint_from_rh, era5_to_canonical, relative_humidity
from twsrecon.errors import InputError


def test_rh_dewpoint_round_trip_and_saturation():
    t = np.array([250.0, 273.15, 300.0])
    rh = np.array([30.0, 75.0, 99.0])
    np.testing.assert_allclose(relative_humidity(t, dewpoint_from_rh(t, rh)), rh, rtol=1e-10)
    assert relative_humidity(np.array([290.0]), np.array([290.0]))[0] == pytest.approx(100.0)
    # 20 degC with a 10 degC dewpoint: textbook ~52.5 %
    assert relative_humidity(np.array([293.15]), np.array([283.15]))[0] == pytest.approx(52.5, abs=0.5)


def _monthly(values, units, start="2020-01"):
    t = pd.date_range(start + "-01", periods=len(values), freq="MS")
    return xr.DataArray(np.asarray(values, float), dims="time", coords={"time": t}, name="tp",
                        attrs={"units": units})


def test_mean_daily_totals_become_monthly_totals():
    tp = _monthly([0.001, 0.001, 0.001], "m")
    np.testing.assert_allclose(era5_to_canonical(tp, "pcp").values, [0.031, 0.029, 0.031])  # 2020 is a leap year
    ssr = _monthly([1e7], "J m**-2")
    assert era5_to_canonical(ssr, "rad").item() == pytest.approx(31e7)


def test_unknown_units_name_file_and_variable():
    with pytest.raises(InputError, match=r"file 'f.nc', variable 'tp': units 'furlongs'"):
        era5_to_canonical(_monthly([1.0], "furlongs"), "pcp", "f.nc")
    assert era5_to_canonical(_monthly([10.0], "degC").rename("t2m"), "tmp").item() == pytest.approx(283.15)
