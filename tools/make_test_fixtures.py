"""Regenerate tests/data/: small crops of the real provider files in ../shared/data, and generated files for
the provider layouts with no real sample here (JPL mascons, Beck GeoTIFF, Global-AI map, SIF), so that a
clone without ../shared still tests every reader.

Crops go through netCDF4 / sqlite3 / plain text directly, not through xarray, so that the providers' variable
names, attributes, dims, dtypes, compression and string coordinates survive as they are. Run from anywhere:

    .venv/bin/python tools/make_test_fixtures.py [--shared ../shared/data]

The output is deterministic; tests/data/README.md describes each file.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data"


# --- netCDF crops -----------------------------------------------------------------------------------------


def crop_netcdf(src: Path, dst: Path, keep: dict[str, np.ndarray]) -> None:
    """Copy `src` to `dst` keeping only the indices `keep[dim]` along each named dim (others whole).

    Global and variable attributes, dtypes (vlen strings included), _FillValue, compression (zlib, shuffle,
    level) and the file format are the source's; chunk sizes are clipped to the smaller dims.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(src) as s, netCDF4.Dataset(dst, "w", format=s.file_format) as d:
        s.set_auto_maskandscale(False)
        d.setncatts({k: s.getncattr(k) for k in s.ncattrs()})
        for name, dim in s.dimensions.items():
            d.createDimension(name, None if dim.isunlimited() else len(keep.get(name, range(len(dim)))))
        for name, var in s.variables.items():
            filters = var.filters() or {}
            chunking = var.chunking()
            kwargs = {}
            if filters.get("zlib"):
                kwargs.update(zlib=True, complevel=filters["complevel"], shuffle=filters["shuffle"])
            if chunking not in (None, "contiguous"):
                kwargs["chunksizes"] = [min(c, len(d.dimensions[n])) for c, n in zip(chunking, var.dimensions)]
            elif chunking == "contiguous" and var.dimensions:
                kwargs["contiguous"] = True
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            fill = attrs.pop("_FillValue", None)
            dtype = str if var.dtype is str else var.dtype
            out = d.createVariable(name, dtype, var.dimensions, fill_value=fill, **kwargs)
            out.setncatts(attrs)
            index = tuple(keep.get(n, slice(None)) for n in var.dimensions)
            out.set_auto_maskandscale(False)
            if var.dimensions:
                data = var[...]
                for axis, idx in enumerate(index):  # one axis at a time: netCDF4 forbids several index arrays
                    data = np.take(data, np.arange(data.shape[axis])[idx], axis=axis)
                out[...] = data
            else:
                out.assignValue(var.getValue())


def indices(values, lo, hi) -> np.ndarray:
    values = np.asarray(values)
    return np.flatnonzero((values >= lo) & (values <= hi))


def make_era5(shared: Path) -> None:
    """Both CDS 2024+ step-type files: 2005-01..2007-12 (36 months, two yearly files' worth and more), a 2 deg
    box 14.0..16.0 N (descending, as stored), 104.0..106.0 E."""
    for name in ("data_stream-moda_stepType-avgad.nc", "data_stream-moda_stepType-avgua.nc"):
        src = shared / "era5-cds" / name
        with netCDF4.Dataset(src) as s:
            lat, lon = s["latitude"][:], s["longitude"][:]
            nt = len(s.dimensions["valid_time"])
        keep = {"valid_time": np.arange(min(36, nt)), "latitude": indices(lat, 14.0, 16.0),
                "longitude": indices(lon, 104.0, 106.0)}
        crop_netcdf(src, OUT / "era5-cds" / name, keep)


def make_reference(shared: Path) -> None:
    """The external TWSA product: all 244 months, the 4 x 4 cells at 20.25..21.75 N, 76.25..77.75 E."""
    src = shared / "reference-products" / "reconstructed_grace_tws_v1.nc"
    with netCDF4.Dataset(src) as s:
        lat, lon = s["lat"][:], s["lon"][:]
    crop_netcdf(src, OUT / "reference-products" / "reconstructed_grace_tws_v1.nc",
                {"lat": indices(lat, 20.25, 21.75), "lon": indices(lon, 76.25, 77.75)})


# --- Köppen-Geiger ASCII ----------------------------------------------------------------------------------


def make_kottek(shared: Path) -> None:
    """Lines of the Kottek table, verbatim and in file order: the first three cells of each of the 31 classes
    (As included) and every cell of the box 36..44 N, 10 W..0 (Iberia: Csa, Csb, BSk, Cfb, ...)."""
    src = shared / "koppen" / "Koeppen-Geiger-ASCII.txt"
    lines = src.read_text().splitlines(keepends=True)
    seen: dict[str, int] = {}
    kept = []
    for line in lines:
        lat, lon, cls = line.split()
        first = seen.get(cls, 0) < 3
        in_box = 36 <= float(lat) <= 44 and -10 <= float(lon) <= 0
        if first or in_box:
            kept.append(line)
            seen[cls] = seen.get(cls, 0) + 1
    dst = OUT / "koppen" / "Koeppen-Geiger-ASCII.txt"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(kept))


# --- Optuna studies -------------------------------------------------------------------------------------

TRIAL_TABLES = ("trial_params", "trial_values", "trial_intermediate_values", "trial_user_attributes",
                "trial_system_attributes", "trial_heartbeats")
STUDIES = [("LSTM", "polar_frost", False), ("LSTM", "polar_frost", True), ("LSTMnoSIF", "polar_frost", False)]


def make_studies(shared: Path) -> None:
    """The authors' Optuna 3.0.3 SQLite files for polar_frost (LSTM, its newLR re-tuning, LSTMnoSIF), with
    the trials cut to: the first five, the best COMPLETE one (so the best is the original file's), one with
    each n_layers value and up to two RUNNING ones. Schema, alembic version and row contents are untouched;
    the file is VACUUMed with 1 KiB pages (4 KiB in the original) to stay small."""
    for model, region, lr in STUDIES:
        rel = Path(model) / ("newLR" if lr else "") / f"{region}_{'LR_' if lr else ''}OPTUNA_{model}.db"
        dst = OUT / "graice-hyperparameters" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        shutil.copyfile(shared / "graice-hyperparameters" / rel, dst)
        con = sqlite3.connect(dst)
        try:
            keep = {n for (n,) in con.execute("SELECT trial_id FROM trials ORDER BY number LIMIT 5")}
            keep |= {n for (n,) in con.execute(
                "SELECT t.trial_id FROM trials t JOIN trial_values v USING (trial_id) WHERE t.state = 'COMPLETE' "
                "ORDER BY v.value, t.number LIMIT 1")}
            for layers in (1.0, 2.0):
                keep |= {n for (n,) in con.execute(
                    "SELECT p.trial_id FROM trial_params p JOIN trials t USING (trial_id) WHERE t.state = 'COMPLETE' "
                    "AND p.param_name = 'n_layers' AND p.param_value = ? ORDER BY t.number LIMIT 1", (layers,))}
            keep |= {n for (n,) in con.execute(
                "SELECT trial_id FROM trials WHERE state = 'RUNNING' ORDER BY number LIMIT 2")}
            marks = ",".join("?" * len(keep))
            for table in TRIAL_TABLES:
                con.execute(f"DELETE FROM {table} WHERE trial_id NOT IN ({marks})", sorted(keep))
            con.execute(f"DELETE FROM trials WHERE trial_id NOT IN ({marks})", sorted(keep))
            con.commit()
            con.execute("PRAGMA page_size = 1024")
            con.execute("VACUUM")
        finally:
            con.close()


# --- generated: layouts with no real sample here ----------------------------------------------------------

# formats/README.md, v03: one string, the last token malformed as in the real file.
MONTHS_MISSING = ("2002-06;2002-07;2003-06;2011-01;2011-06;2012-05;2012-10;2013-03;2013-08;2013-09;2014-02;"
                  "2014-07;2014-12;2015-06;2015-10;2015-11;2016-04;2016-09;2016-10;2017-02;2017-07;2017-08;"
                  "2017-09;2017-10;2017-11;2017-12;2018-01;2018-02;2018-03;2018-04;2018-05;2018-08-2018-09")
# Solutions that are not calendar months (first and last day included): the first solution as in PO.DAAC's
# printout (centre 2002-04-17T12:00), one straddling 2017-05/06 before the gap and the 2018-08..09 one.
ODD_SOLUTIONS = {"2002-04": ("2002-04-04", "2002-05-01"), "2017-06": ("2017-05-22", "2017-06-29"),
                 "2018-08": ("2018-08-12", "2018-09-21")}
MASCON_LAT = np.array([38.25, 38.75, 39.25])  # ascending, as JPL stores it
MASCON_LON = np.array([0.25, 0.75, 359.25, 359.75])  # 0..360, a crop across the prime meridian


def mascon_solutions() -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    missing = {"2018-09"} | set(MONTHS_MISSING.replace("2018-08-2018-09", "").split(";"))
    out = []
    for month in pd.date_range("2002-04-01", "2019-06-01", freq="MS"):
        key = f"{month:%Y-%m}"
        if key in missing:
            continue
        a, b = ODD_SOLUTIONS.get(key, (month, month + pd.offsets.MonthEnd(0)))
        out.append((pd.Timestamp(a), pd.Timestamp(b)))
    return out


def mascon_values(n_solutions: int) -> np.ndarray:
    """lwe_thickness in cm: 10 * k / n_solutions + (lat index) + 0.1 * (lon index), exact in float64, so a test
    can compute any value by hand."""
    k = np.arange(n_solutions)[:, None, None]
    i = np.arange(len(MASCON_LAT))[None, :, None]
    j = np.arange(len(MASCON_LON))[None, None, :]
    return (10.0 * k / n_solutions + i + 0.1 * j).astype(np.float64)


def make_mascon() -> None:
    """A JPL GRACE/GRACE-FO mascon CRI v04 file laid out as formats/README.md describes (no real file here):
    names, dims, float64, _FillValue -99999.0 with one filled value, chunks of 61 months, days since
    2002-01-01T00:00:00Z (gregorian) with time_bounds, land_mask, scale_factor (NaN over the sea cell),
    mascon_ID, and the v03 months_missing attribute with its malformed last token."""
    sols = mascon_solutions()
    epoch = pd.Timestamp("2002-01-01")
    bounds = np.array([[(a - epoch).days, (b - epoch).days] for a, b in sols], np.float64)
    dst = OUT / "grace" / "GRCTellus.JPL.200204_201906.GLO.RL06.3M.MSCNv04CRI.nc"
    dst.parent.mkdir(parents=True, exist_ok=True)
    ny, nx = len(MASCON_LAT), len(MASCON_LON)
    with netCDF4.Dataset(dst, "w", format="NETCDF4") as d:
        d.setncatts({
            "Conventions": "CF-1.6, ACDD-1.3, ISO 8601",
            "title": "JPL GRACE and GRACE-FO MASCON RL06.3Mv04 CRI",
            "summary": "GENERATED test fixture in the layout of the JPL mascon CRI product (not NASA/JPL data)",
            "time_epoch": "2002-01-01T00:00:00Z", "time_mean_removed": "2004.000 to 2009.999",
            "months_missing": MONTHS_MISSING})
        d.createDimension("lon", nx)
        d.createDimension("lat", ny)
        d.createDimension("time", len(sols))
        d.createDimension("bounds", 2)
        lon = d.createVariable("lon", "f8", ("lon",))
        lon.setncatts({"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude", "axis": "X",
                       "bounds": "lon_bounds"})
        lon[:] = MASCON_LON
        lat = d.createVariable("lat", "f8", ("lat",))
        lat.setncatts({"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude", "axis": "Y",
                       "bounds": "lat_bounds"})
        lat[:] = MASCON_LAT
        time = d.createVariable("time", "f8", ("time",))
        time.setncatts({"units": "days since 2002-01-01T00:00:00Z", "calendar": "gregorian", "long_name": "time",
                        "standard_name": "time", "axis": "T", "bounds": "time_bounds"})
        time[:] = bounds.mean(1)  # the solution's centre: 2002-04-17T12:00 for the first, as PO.DAAC prints it
        for name, centre in (("lat_bounds", MASCON_LAT), ("lon_bounds", MASCON_LON)):
            d.createVariable(name, "f8", (name[:3], "bounds"))[:] = np.stack([centre - 0.25, centre + 0.25], 1)
        tb = d.createVariable("time_bounds", "f8", ("time", "bounds"))
        tb.setncatts({"long_name": "time boundaries", "comment": "first and last day included in the solution"})
        tb[:] = bounds
        chunks = (min(61, len(sols)), ny, nx)
        lwe = d.createVariable("lwe_thickness", "f8", ("time", "lat", "lon"), fill_value=-99999.0, zlib=True,
                               complevel=1, chunksizes=chunks)
        lwe.setncatts({"units": "cm", "long_name": "Liquid_Water_Equivalent_Thickness",
                       "standard_name": "Liquid_Water_Equivalent_Thickness", "grid_mapping": "WGS84",
                       "comment": "Coastline Resolution Improvement (CRI) filter is applied"})
        values = mascon_values(len(sols))
        values[1, 0, 0] = -99999.0  # one missing value, as _FillValue
        lwe[:] = values
        unc = d.createVariable("uncertainty", "f8", ("time", "lat", "lon"), fill_value=-99999.0, zlib=True,
                               complevel=1, chunksizes=chunks)
        unc.setncatts({"units": "cm", "long_name": "uncertainty", "grid_mapping": "WGS84",
                       "comment": "1-sigma uncertainty: not for each 0.5 degree grid cell, but for each 3-degree "
                                  "mascon"})
        unc[:] = np.full(values.shape, 2.0)
        land = np.ones((ny, nx))
        land[2, 3] = 0.0  # one sea cell
        lm = d.createVariable("land_mask", "f8", ("lat", "lon"))
        lm.setncatts({"long_name": "land_mask", "units": "binary"})
        lm[:] = land
        sf = d.createVariable("scale_factor", "f8", ("lat", "lon"))
        sf.setncatts({"long_name": "scale_factor", "units": "1", "comment": "CRI gain factors from CLM"})
        sf[:] = np.where(land > 0, 1.0 + 0.25 * np.arange(nx)[None, :], np.nan)  # 1, 1.25, 1.5, 1.75 by column
        mid = d.createVariable("mascon_ID", "f8", ("lat", "lon"))
        mid.setncatts({"long_name": "mascon_identifier"})
        mid[:] = np.floor((MASCON_LAT[:, None] + 90) / 3) * 120 + np.floor(MASCON_LON[None] / 3) + 1


def make_beck_geotiff() -> None:
    """A Beck et al. 0.5 deg GeoTIFF crop (no real file here): Byte, one band, palette, EPSG:4326, 0 = ocean,
    the 30 classes in a 6 x 6 raster at 30..33 N, 0..3 E (class = 1 + row-major index, capped at 30; the last
    row's rest 0)."""
    import rasterio
    from affine import Affine

    cls = np.minimum(np.arange(1, 37), 30).reshape(6, 6).astype(np.uint8)
    cls[5, 1:] = 0
    dst = OUT / "koppen" / "koppen_geiger_0p5.tif"
    dst.unlink(missing_ok=True)
    profile = dict(driver="GTiff", width=6, height=6, count=1, dtype="uint8", crs="EPSG:4326", nodata=None,
                   transform=Affine(0.5, 0.0, 0.0, 0.0, -0.5, 33.0), compress="deflate")
    with rasterio.open(dst, "w", **profile) as out:
        out.write(cls, 1)
        out.write_colormap(1, {i: (i * 8, 255 - i * 8, (i * 37) % 256, 255) for i in range(31)})


def make_aridity_geotiff() -> None:
    """A user's aridity-index map as Global-AI v3 (Zomer et al. 2022) distributes it, per its documentation:
    GeoTIFF at 30 arc-seconds, EPSG:4326, the index x 10 000 stored as integers (read with
    evaluation.aridity.scale 1e-4). No real file here: Int32 and the nodata value are assumptions. 1 x 1 deg at
    20..21 N, 10..11 E (120 x 120 pixels), value 1000 + 10 * row + column from the north-west corner."""
    import rasterio
    from affine import Affine

    n = 120
    ai = (1000 + 10 * np.arange(n)[:, None] + np.arange(n)[None, :]).astype(np.int32)
    dst = OUT / "aridity" / "ai_v3_yr.tif"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="int32", crs="EPSG:4326",
                   nodata=-2147483648, transform=Affine(1 / n, 0.0, 10.0, 0.0, -1 / n, 21.0), compress="deflate")
    with rasterio.open(dst, "w", **profile) as out:
        out.write(ai, 1)


def make_sif() -> None:
    """A monthly SIF file as formats/README.md allows (no real LCSIF sample): CF netCDF, one (time, lat, lon)
    float32 variable in mW m-2 nm-1 sr-1, mid-month stamps in days since 1982-01-01, 1982-01..1983-12."""
    months = pd.date_range("1982-01-01", "1983-12-01", freq="MS")
    dst = OUT / "sif" / "LCSIF_monthly_fixture.nc"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(dst, "w", format="NETCDF4") as d:
        d.setncatts({"Conventions": "CF-1.8", "title": "GENERATED test fixture: monthly SIF, LCSIF-like layout"})
        for name, n in (("time", len(months)), ("lat", 2), ("lon", 3)):
            d.createDimension(name, n)
        t = d.createVariable("time", "f8", ("time",))
        t.setncatts({"units": "days since 1982-01-01", "calendar": "standard", "standard_name": "time"})
        t[:] = ((months + pd.Timedelta(days=14)) - pd.Timestamp("1982-01-01")).days.to_numpy()
        lat = d.createVariable("lat", "f8", ("lat",))
        lat.setncatts({"units": "degrees_north", "standard_name": "latitude"})
        lat[:] = [10.25, 10.75]
        lon = d.createVariable("lon", "f8", ("lon",))
        lon.setncatts({"units": "degrees_east", "standard_name": "longitude"})
        lon[:] = [20.25, 20.75, 21.25]
        sif = d.createVariable("sif", "f4", ("time", "lat", "lon"), fill_value=np.float32(np.nan), zlib=True)
        sif.setncatts({"units": "mW m-2 nm-1 sr-1", "long_name": "solar-induced chlorophyll fluorescence"})
        sif[:] = (0.01 * np.arange(len(months))[:, None, None] + np.zeros((1, 2, 3))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data",
                        help="the real data folder (default ../shared/data)")
    args = parser.parse_args()
    if not args.shared.is_dir():
        parser.error(f"{args.shared} not found: the crops need the real files")
    make_era5(args.shared)
    make_reference(args.shared)
    make_kottek(args.shared)
    make_studies(args.shared)
    make_mascon()
    make_beck_geotiff()
    make_aridity_geotiff()
    make_sif()
    for path in sorted(OUT.rglob("*")):
        if path.is_file() and path.name != "README.md":
            print(f"{path.stat().st_size:>8}  {path.relative_to(OUT)}")


if __name__ == "__main__":
    main()
