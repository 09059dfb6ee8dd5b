"""ERA5 / ERA5-Land monthly means from the Copernicus Climate Data Store (CDS).

`era5_variables` says which variables a config needs, `cds_request` builds the exact request of one
year (a pure function, unit-tested), `retrieve_year` sends it with `cdsapi` and downloads the result with
the package's resumable `fetch`, and `unpack_cds` turns the CDS zip (one netCDF per GRIB step type) into
the per-step-type files the ERA5 reader expects.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..data.derived import ERA5_NEEDS, ERA5_OPTIONAL
from ..regions.classes import predictors_of
from .credentials import cds_credentials
from .http import fetch

log = logging.getLogger(__name__)

DATASETS = {
    "era5-land": "reanalysis-era5-land-monthly-means",
    "era5": "reanalysis-era5-single-levels-monthly-means",
}
# ERA5 short name -> CDS variable name per dataset. `sd` is "snow depth water equivalent" in ERA5-Land
# but "snow depth" (already in m of water equivalent) in ERA5 single levels; ERA5-Land's "snow_depth"
# is `sde`, metres of snow, which is not what the reader wants. Evaporation `e`: "total_evaporation" in
# ERA5-Land, "evaporation" in ERA5.
_SHARED_NAMES = {
    "tp": "total_precipitation", "t2m": "2m_temperature", "d2m": "2m_dewpoint_temperature",
    "ssr": "surface_net_solar_radiation", "ro": "runoff", "src": "skin_reservoir_content",
    **{f"swvl{i}": f"volumetric_soil_water_layer_{i}" for i in range(1, 5)},
}
CDS_NAMES = {
    "era5-land": _SHARED_NAMES | {"sd": "snow_depth_water_equivalent", "e": "total_evaporation"},
    "era5": _SHARED_NAMES | {"sd": "snow_depth", "e": "evaporation"},
}
# GRIB step type of each variable in the monthly means: instantaneous means (avgua) and means of daily
# accumulations (avgad); the CDS puts each step type in its own netCDF.
STEP_TYPES = {"t2m": "avgua", "d2m": "avgua", "sd": "avgua", "src": "avgua",
              **{f"swvl{i}": "avgua" for i in range(1, 5)},
              "tp": "avgad", "ssr": "avgad", "e": "avgad", "ro": "avgad"}
STEP_FILES = {"avgua": "data_stream-moda_stepType-avgua.nc", "avgad": "data_stream-moda_stepType-avgad.nc"}
BASE_VARIABLES = ("tp", "t2m", "d2m", "sd", "ssr")
NATIVE_RESOLUTION = {"era5-land": 0.1, "era5": 0.25}


def era5_variables(config: dict) -> list[str]:
    """ERA5 short names the config needs: the five GR*Ai*CE forcings, plus e/ro when a BCNN predictor
    set or a model type uses cwsc or cwsc_dev and swvl1-4/src when one uses model_twsa."""
    out = list(BASE_VARIABLES)
    gapfill = config.get("gapfill", {})
    used = set(predictors_of(config.get("models", {}).get("types", ())))
    if gapfill.get("enabled", True):
        used |= {p for preds in gapfill.get("predictor_sets", {}).values() for p in preds}
    for name, needs in ERA5_NEEDS.items():
        if name in used:
            out += [v for v in (*needs, *ERA5_OPTIONAL.get(name, ())) if v not in out]
    out += [v for v in config["inputs"]["era5"].get("extra_variables", []) if v not in out]
    return out


def request_grid(config: dict):
    """The grid step (degrees) asked of the CDS, or None for the dataset's native grid."""
    era5 = config["inputs"]["era5"]
    grid = era5.get("grid")
    if grid == "native":
        return None
    return float(config["grid"]["resolution"] if grid is None else grid)


def request_area(config: dict):
    """[N, W, S, E] asked of the CDS.

    With a grid step that tiles the analysis cells (their size is a whole multiple of it, e.g. 0.5 or
    0.25 for a 0.5 deg grid), the area runs from the centre of the first source cell to that of the
    last, so the CDS's interpolation tool puts its points at those centres (a "shifted grid": it honours
    an area whose extents are multiples of the step) and the source cells tile the analysis cells
    exactly. Otherwise (native grid, or a step that does not divide the extents): the analysis grid's
    edges plus one source cell of margin, or None (the whole globe) for a global grid.
    """
    g = config["grid"]
    step = request_grid(config)
    spans = (g["lat_max"] - g["lat_min"], g["lon_max"] - g["lon_min"])
    if step is not None and all(abs(x / step - round(x / step)) < 1e-9 for x in (*spans, g["resolution"])):
        h = step / 2
        return [g["lat_max"] - h, g["lon_min"] + h, g["lat_min"] + h, g["lon_max"] - h]
    if spans[0] >= 180 and spans[1] >= 360:
        return None
    step = step or NATIVE_RESOLUTION[config["inputs"]["era5"]["dataset"]]
    return [min(90.0, g["lat_max"] + step), max(-180.0, g["lon_min"] - step),
            max(-90.0, g["lat_min"] - step), min(180.0, g["lon_max"] + step)]


def cds_request(config: dict, year: int) -> tuple[str, dict]:
    """(CDS dataset name, request) for one year of monthly means: every variable the config needs,
    all 12 months, netCDF in a zip (one file per step type)."""
    dataset = config["inputs"]["era5"]["dataset"]
    names = CDS_NAMES[dataset]
    request = {
        "product_type": ["monthly_averaged_reanalysis"],
        "variable": [names[v] for v in era5_variables(config)],
        "year": [f"{int(year):04d}"],
        "month": [f"{m:02d}" for m in range(1, 13)],
        "time": ["00:00"],
        "data_format": "netcdf",
        "download_format": "zip",
    }
    step = request_grid(config)
    if step is not None:
        request["grid"] = [step, step]
    area = request_area(config)
    if area is not None:
        request["area"] = area
    return DATASETS[dataset], request


def years(period: dict) -> list[int]:
    return list(range(int(period["start"][:4]), int(period["end"][:4]) + 1))


def retrieve(dataset: str, request: dict, outputs: dict[str, str | Path], expected=(), env=None, home=None,
             fetch_options: dict | None = None) -> None:
    """Send one request (from `cds_request`) to the CDS, download the result (resumable, size-checked)
    and unpack it to `outputs` (step type -> path). Credentials are checked before anything is sent."""
    url, key, origin = cds_credentials(env, home)  # raises with where to put them; nothing sent yet
    log.info("CDS request for %s (credentials from %s): %s", dataset, origin, request)
    import cdsapi

    client = cdsapi.Client(url=url, key=key, quiet=False, progress=False)
    result = client.retrieve(dataset, request)  # waits for the CDS to prepare the file; no target: no download
    size = getattr(result, "content_length", None)
    archive = Path(outputs["avgua"]).parent / f"cds_{dataset}_{'_'.join(request['year'])}.zip"
    # A partial file from an earlier job belongs to an earlier result (a new URL, maybe other bytes):
    # resume only within this job, never across results.
    for stale in (archive, archive.with_name(archive.name + ".part")):
        stale.unlink(missing_ok=True)
    fetch(result.location, archive, expected_size=size, **(fetch_options or {}))
    try:
        unpack_cds(archive, outputs, expected=expected)
    finally:
        archive.unlink(missing_ok=True)


def unpack_cds(archive, outputs: dict[str, str | Path], expected=()) -> dict[str, list[str]]:
    """Write the per-step-type netCDF files of a CDS download to `outputs` (step type -> path).

    The archive is the CDS zip (members named `..._stepType-<type>.nc`) or, when the CDS sent a bare
    netCDF, that file, whose variables are split by their step type. Every variable in `expected` must
    end up in one of the files. Returns the variables found per step type.
    """
    import netCDF4

    archive = Path(archive)
    found: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(dir=Path(next(iter(outputs.values()))).parent) as tmp:
        tmp = Path(tmp)
        staged = {}
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    if member.endswith("/"):
                        continue
                    m = re.search(r"stepType-([a-z]+)\.nc$", member)
                    if not m or m.group(1) not in outputs:
                        raise ValueError(f"{archive}: unexpected member '{member}' in the CDS zip "
                                         f"(expected {', '.join(STEP_FILES[s] for s in outputs)})")
                    staged[m.group(1)] = tmp / Path(member).name
                    with z.open(member) as src, open(staged[m.group(1)], "wb") as dst:
                        shutil.copyfileobj(src, dst)
        else:
            staged = _split_by_step_type(archive, tmp, list(outputs))
        for step, path in staged.items():
            with netCDF4.Dataset(path) as nc:
                found[step] = [v for v in nc.variables if v in STEP_TYPES]
        missing = [v for v in expected if not any(v in vs for vs in found.values())]
        if missing:
            raise ValueError(f"{archive}: the CDS download lacks the variables {missing} (found {found})")
        absent = [s for s in outputs if s not in staged]
        if absent:
            raise ValueError(f"{archive}: no {', '.join(absent)} file in the CDS download (found {sorted(staged)})")
        for step, path in staged.items():
            os.replace(path, outputs[step])
    log.info("unpacked %s: %s", archive, {s: v for s, v in found.items()})
    return found


def _split_by_step_type(path: Path, tmp: Path, steps) -> dict[str, Path]:
    import xarray as xr

    try:
        ds = xr.open_dataset(path, decode_times=False, mask_and_scale=False)
    except Exception as err:
        raise ValueError(f"{path}: neither a zip nor a readable netCDF file: {err}") from err
    out = {}
    with ds:
        for step in steps:
            names = [v for v in ds.data_vars if STEP_TYPES.get(v) == step]
            if names:
                out[step] = tmp / STEP_FILES[step]
                ds[names].to_netcdf(out[step])
    return out
