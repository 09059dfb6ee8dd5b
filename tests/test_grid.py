import numpy as np
import pytest
import xarray as xr

from twsrecon.data.grid import Grid, edges_from_centres, regrid, regrid_classes
from twsrecon.errors import InputError


def field(lat, lon, values=None):
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    if values is None:
        values = np.add.outer(lat, lon)
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name="x")


def test_block_mean_is_area_weighted():
    # Four 0.5 deg rows inside one 2 deg target row: weights are the differences of sin(lat).
    lat = np.array([60.25, 60.75, 61.25, 61.75])
    lon = np.array([0.25, 0.75, 1.25, 1.75])
    values = np.repeat(np.array([1.0, 2.0, 3.0, 4.0])[:, None], 4, axis=1)
    out = regrid(field(lat, lon, values), Grid(2.0, 60, 62, 0, 2))
    w = np.diff(np.sin(np.deg2rad([60, 60.5, 61, 61.5, 62])))
    assert out.shape == (1, 1)
    assert out.item() == pytest.approx(np.sum(w * [1, 2, 3, 4]) / w.sum(), rel=1e-12)
    assert out.item() != pytest.approx(2.5, rel=1e-6)  # not the plain mean


def test_partial_overlap_and_nan_handling():
    # ERA5-style points on multiples of 0.25 deg: cells straddle the 1 deg target edges.
    lat = np.arange(30.0, 32.01, 0.25)[::-1]
    lon = np.arange(-1.0, 1.01, 0.25)
    da = field(lat, lon, np.full((len(lat), len(lon)), 5.0))
    da[0, 0] = np.nan
    out = regrid(da, Grid(1.0, 30, 32, -1, 1))
    np.testing.assert_allclose(out.values, 5.0)
    assert list(out["lat"].values) == [30.5, 31.5]


def test_min_coverage_gives_nan():
    lat = np.array([0.25, 0.75])
    lon = np.array([0.25, 0.75])
    da = field(lat, lon, np.array([[1.0, np.nan], [np.nan, np.nan]]))
    assert np.isnan(regrid(da, Grid(1.0, 0, 1, 0, 1)).item())
    assert regrid(da, Grid(1.0, 0, 1, 0, 1), min_coverage=0.2).item() == pytest.approx(1.0)


def test_global_0_360_source_wraps_the_dateline():
    lat = np.arange(-89.75, 90, 0.5)
    lon = np.arange(0.25, 360, 0.5)
    da = field(lat, lon, np.cos(np.deg2rad(lon))[None, :].repeat(len(lat), 0))
    out = regrid(da, Grid(1.0, -90, 90, -180, 180))
    assert out.shape == (180, 360)
    # -179.5 deg is 180.5 deg in 0..360: cos is about -1 there.
    assert out.sel(lon=-179.5).mean().item() == pytest.approx(np.cos(np.deg2rad(180.5)), abs=2e-3)
    assert np.isfinite(out).all()


def test_domain_not_covered_is_an_input_error():
    da = field(np.arange(10.25, 20, 0.5), np.arange(0.25, 10, 0.5))
    with pytest.raises(InputError, match="analysis domain"):
        regrid(da, Grid(1.0, 5, 15, 0, 10), path="era5.nc")


def test_irregular_axis_is_an_input_error():
    with pytest.raises(InputError, match="not regular"):
        edges_from_centres(np.array([0.0, 1.0, 2.5, 3.0]), "x.nc", "latitude")


def test_majority_class_and_land_threshold():
    lat = np.array([0.25, 0.75])
    lon = np.array([0.25, 0.75, 1.25, 1.75])
    cls = np.array([[3, 3, 0, 0], [3, 5, 0, 7]])
    out = regrid_classes(field(lat, lon, cls), Grid(1.0, 0, 1, 0, 2))
    assert out.values.tolist() == [[3, 0]]  # right cell: only a quarter land
    out = regrid_classes(field(lat, lon, cls), Grid(1.0, 0, 1, 0, 2), min_land=0.2)
    assert out.values.tolist() == [[3, 7]]


def test_grid_rejects_fractional_cells():
    with pytest.raises(ValueError):
        Grid(0.7, 0, 1, 0, 1)
    g = Grid(0.5, -1, 1, 10, 11)
    assert g.shape == (4, 2)
    assert g.cell_area_km2().sum() == pytest.approx(2 * np.pi * 6371.0072**2 * (np.sin(np.deg2rad(1)) * 2)
                                                    * (1 / 360), rel=1e-9)
