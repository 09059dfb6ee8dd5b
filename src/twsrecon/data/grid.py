"""The analysis grid and conservative (area-weighted) regridding onto it.

Regridding is separable on regular lat/lon grids: the area of overlap between a source and a
target cell is (overlap in sin(latitude)) x (overlap in longitude). Two small dense matrices
therefore do the whole job, applied chunk by chunk along time so that memory is bounded by
the chunk, not by the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import InputError

CRS_ATTRS = {
    "grid_mapping_name": "latitude_longitude",
    "longitude_of_prime_meridian": 0.0,
    "semi_major_axis": 6378137.0,
    "inverse_flattening": 298.257223563,
    "crs_wkt": 'GEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563]],'
    'CS[ellipsoidal,2],AXIS["latitude",north],AXIS["longitude",east],ANGLEUNIT["degree",0.0174532925199433],'
    'ID["EPSG",4326]]',
    "epsg_code": "EPSG:4326",
}


@dataclass(frozen=True)
class Grid:
    """A regular lat/lon grid given by its outer edges and cell size (degrees)."""

    resolution: float
    lat_min: float = -90.0
    lat_max: float = 90.0
    lon_min: float = -180.0
    lon_max: float = 180.0

    @classmethod
    def from_config(cls, cfg: dict) -> "Grid":
        return cls(float(cfg["resolution"]), float(cfg["lat_min"]), float(cfg["lat_max"]),
                   float(cfg["lon_min"]), float(cfg["lon_max"]))

    def __post_init__(self):
        for lo, hi, name in ((self.lat_min, self.lat_max, "lat"), (self.lon_min, self.lon_max, "lon")):
            n = (hi - lo) / self.resolution
            if hi <= lo or abs(n - round(n)) > 1e-6:
                raise ValueError(f"grid {name} extent {lo}..{hi} is not a whole number of {self.resolution} deg cells")

    @property
    def lat_edges(self) -> np.ndarray:
        n = round((self.lat_max - self.lat_min) / self.resolution)
        return self.lat_min + self.resolution * np.arange(n + 1)

    @property
    def lon_edges(self) -> np.ndarray:
        n = round((self.lon_max - self.lon_min) / self.resolution)
        return self.lon_min + self.resolution * np.arange(n + 1)

    @property
    def lat(self) -> np.ndarray:
        e = self.lat_edges
        return 0.5 * (e[:-1] + e[1:])

    @property
    def lon(self) -> np.ndarray:
        e = self.lon_edges
        return 0.5 * (e[:-1] + e[1:])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.lat), len(self.lon)

    def cell_area_km2(self) -> np.ndarray:
        """Cell areas on a sphere of the WGS84 authalic radius, shape (lat, lon)."""
        r = 6371.0072
        sin = np.sin(np.deg2rad(self.lat_edges))
        dlon = np.deg2rad(self.resolution)
        return np.repeat((r**2 * dlon * np.diff(sin))[:, None], len(self.lon), axis=1)

    def latlon(self) -> dict:
        """CF lat/lon coordinates: every array put on this grid carries them."""
        return {
            "lat": ("lat", self.lat, {"standard_name": "latitude", "long_name": "latitude",
                                      "units": "degrees_north", "axis": "Y", "bounds": "lat_bnds"}),
            "lon": ("lon", self.lon, {"standard_name": "longitude", "long_name": "longitude",
                                      "units": "degrees_east", "axis": "X", "bounds": "lon_bnds"}),
        }

    def coords(self) -> xr.Dataset:
        """CF coordinates with bounds and a CRS variable, to build every gridded output on."""
        lat_b = np.stack([self.lat_edges[:-1], self.lat_edges[1:]], axis=1)
        lon_b = np.stack([self.lon_edges[:-1], self.lon_edges[1:]], axis=1)
        ds = xr.Dataset(
            coords=self.latlon(),
            data_vars={
                "lat_bnds": (("lat", "bnds"), lat_b),
                "lon_bnds": (("lon", "bnds"), lon_b),
                "crs": ((), np.int32(0), CRS_ATTRS),
            },
        )
        return ds


def normalise_lon(da: xr.DataArray | xr.Dataset, lon: str = "lon"):
    """Longitudes to [-180, 180), ascending (JPL and ERA5 publish 0..360)."""
    new = ((da[lon] + 180.0) % 360.0) - 180.0
    return da.assign_coords({lon: new}).sortby(lon)


def edges_from_centres(centres: np.ndarray, path=None, name="coordinate") -> np.ndarray:
    """Cell edges of a regular, ascending axis; irregular spacing is an input error."""
    c = np.asarray(centres, dtype=float)
    if c.size < 2:
        raise InputError(path, f"{name} axis has fewer than two points, cannot infer the grid spacing", name)
    step = np.diff(c)
    if np.any(step <= 0):
        raise InputError(path, f"{name} is not strictly monotonic after sorting", name)
    d = np.median(step)
    if np.max(np.abs(step - d)) > 1e-3 * d:
        raise InputError(path, f"{name} spacing is not regular ({step.min():g}..{step.max():g} deg)", name)
    return np.concatenate([c - d / 2, [c[-1] + d / 2]])


def overlap_matrix(src_edges: np.ndarray, tgt_edges: np.ndarray, transform=None) -> np.ndarray:
    """W[i, j] = measure of target cell i covered by source cell j (after `transform` of edges)."""
    f = transform or (lambda x: x)
    s_lo, s_hi = f(src_edges[:-1]), f(src_edges[1:])
    t_lo, t_hi = f(tgt_edges[:-1]), f(tgt_edges[1:])
    lo = np.maximum(t_lo[:, None], s_lo[None, :])
    hi = np.minimum(t_hi[:, None], s_hi[None, :])
    return np.clip(hi - lo, 0.0, None)


def lon_overlap(src_edges: np.ndarray, tgt_edges: np.ndarray) -> np.ndarray:
    """Longitude overlaps, wrapping around the dateline for a source that spans the globe."""
    w = overlap_matrix(src_edges, tgt_edges)
    if src_edges[-1] - src_edges[0] >= 360.0 - 1e-6:
        w += overlap_matrix(src_edges + 360.0, tgt_edges) + overlap_matrix(src_edges - 360.0, tgt_edges)
    return w


def check_covers(src_lat, src_lon, grid: Grid, path=None, variable=None) -> None:
    """An input's grid (cell centres, any order and lon convention) must cover the whole analysis domain.

    Needs only the coordinates, so it runs on a file's metadata before any data is read or combined.
    """
    lat_e = edges_from_centres(np.sort(np.asarray(src_lat, float)), path, "latitude")
    lon = np.asarray(src_lon, float)
    lon_e = edges_from_centres(np.sort(((lon + 180.0) % 360.0) - 180.0), path, "longitude")  # as normalise_lon
    tol = 1e-6
    lon_global = lon_e[-1] - lon_e[0] >= 360.0 - tol
    if lat_e[0] > grid.lat_min + tol or lat_e[-1] < grid.lat_max - tol or (not lon_global and (
            lon_e[0] > grid.lon_min + tol or lon_e[-1] < grid.lon_max - tol)):
        raise InputError(
            path,
            f"grid covers lat {lat_e[0]:g}..{lat_e[-1]:g}, lon {lon_e[0]:g}..{lon_e[-1]:g} but the analysis "
            f"domain needs lat {grid.lat_min:g}..{grid.lat_max:g}, lon {grid.lon_min:g}..{grid.lon_max:g}",
            variable,
        )


def _sin_deg(x):
    return np.sin(np.deg2rad(np.clip(x, -90.0, 90.0)))


@dataclass
class Regridder:
    """Area-weighted block means from one regular lat/lon grid onto a target `Grid`."""

    w_lat: np.ndarray  # (n_lat_target, n_lat_source)
    w_lon: np.ndarray  # (n_lon_target, n_lon_source)
    min_coverage: float

    @classmethod
    def build(cls, src_lat, src_lon, grid: Grid, *, path=None, variable=None, min_coverage=0.5,
              require_cover=True):
        """With `require_cover` (inputs), the source must cover the domain; without (products to compare
        with), it must overlap it, and cells outside it are NaN."""
        lat_e = edges_from_centres(src_lat, path, "latitude")
        lon_e = edges_from_centres(src_lon, path, "longitude")
        tol = 1e-6
        lon_global = lon_e[-1] - lon_e[0] >= 360.0 - tol
        if not require_cover:
            outside = lat_e[0] >= grid.lat_max or lat_e[-1] <= grid.lat_min or (not lon_global and (
                lon_e[0] >= grid.lon_max or lon_e[-1] <= grid.lon_min))
            if outside:
                raise InputError(path, f"grid lat {lat_e[0]:g}..{lat_e[-1]:g}, lon {lon_e[0]:g}..{lon_e[-1]:g} does "
                                       f"not overlap the analysis domain lat {grid.lat_min:g}..{grid.lat_max:g}, "
                                       f"lon {grid.lon_min:g}..{grid.lon_max:g}", variable)
        else:
            check_covers(src_lat, src_lon, grid, path, variable)
        return cls(overlap_matrix(lat_e, grid.lat_edges, _sin_deg), lon_overlap(lon_e, grid.lon_edges), min_coverage)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        valid = np.isfinite(x)
        xf = np.where(valid, x, 0.0)
        num = np.matmul(np.matmul(self.w_lat, xf), self.w_lon.T)
        den = np.matmul(np.matmul(self.w_lat, valid.astype(xf.dtype)), self.w_lon.T)
        full = self.w_lat.sum(1)[:, None] * self.w_lon.sum(1)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / den
        return np.where(den >= self.min_coverage * full, out, np.nan).astype(x.dtype)

    def __call__(self, da: xr.DataArray, grid: Grid) -> xr.DataArray:
        """Regrid `da` with dims (..., lat, lon), lazily when it is a dask array."""
        out = xr.apply_ufunc(
            self._apply, da,
            input_core_dims=[["lat", "lon"]], output_core_dims=[["lat_t", "lon_t"]],
            exclude_dims={"lat", "lon"}, dask="parallelized",
            dask_gufunc_kwargs={"output_sizes": {"lat_t": grid.shape[0], "lon_t": grid.shape[1]}},
            output_dtypes=[da.dtype], keep_attrs=True,
        )
        return out.rename(lat_t="lat", lon_t="lon").assign_coords(grid.latlon())


def regrid(da: xr.DataArray, grid: Grid, *, path=None, min_coverage=0.5, require_cover=True) -> xr.DataArray:
    """Conservative regridding of a (…, lat, lon) field with lat/lon in any order and convention."""
    da = normalise_lon(da).sortby("lat")
    rg = Regridder.build(da["lat"].values, da["lon"].values, grid, path=path, variable=da.name,
                         min_coverage=min_coverage, require_cover=require_cover)
    return rg(da, grid)


def regrid_classes(classes: xr.DataArray, grid: Grid, *, path=None, n_classes=30, min_land=0.5,
                   block_rows=2048) -> xr.DataArray:
    """Majority class per target cell by area (0 = no class); 0 where less than `min_land` is classed.

    Works through source rows in blocks so a 1 km global map never sits in memory as 30 masks.
    """
    classes = normalise_lon(classes).sortby("lat")
    lat_e = edges_from_centres(classes["lat"].values, path, "latitude")
    lon_e = edges_from_centres(classes["lon"].values, path, "longitude")
    Regridder.build(classes["lat"].values, classes["lon"].values, grid, path=path, variable=classes.name)
    w_lon = lon_overlap(lon_e, grid.lon_edges)
    area = np.zeros((n_classes + 1,) + grid.shape)
    values = classes.values
    for r0 in range(0, values.shape[0], block_rows):
        block = values[r0:r0 + block_rows]
        w_lat = overlap_matrix(lat_e[r0:r0 + block.shape[0] + 1], grid.lat_edges, _sin_deg)
        if not w_lat.any():
            continue
        for c in np.unique(block):
            if 0 <= c <= n_classes:
                area[int(c)] += w_lat @ (block == c).astype(float) @ w_lon.T
    total = area.sum(0)
    land = area[1:].sum(0)
    best = 1 + np.argmax(area[1:], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = land >= min_land * total
    out = np.where(keep & (total > 0), best, 0).astype(np.int16)
    return xr.DataArray(out, dims=("lat", "lon"), coords=grid.latlon(), name=classes.name)
