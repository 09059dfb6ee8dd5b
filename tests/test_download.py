"""Download rules without internet: the URL downloader against a real HTTP server on 127.0.0.1, the
CDS and Earthdata request builders, credential checks, the Köppen and CDS archive unpacking, and the
dry run of config/real.yaml."""

from __future__ import annotations

import hashlib
import logging
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import REPO, run_snakemake

from twsrecon.config import validate
from twsrecon.download import DownloadError, fetch, redact_url
from twsrecon.download.cds import STEP_FILES, cds_request, era5_variables, retrieve, unpack_cds, years
from twsrecon.download.credentials import CredentialsError, cds_credentials, earthdata_credentials
from twsrecon.download.earthdata import (download_mascon, granule_size_and_checksum, mascon_filename, mascon_search,
                                         mascon_short_name)
from twsrecon.download.koppen import extract_koppen, koppen_member

PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))


class Server:
    """A real HTTP server on 127.0.0.1 serving fixture bytes, with Range support and scripted faults."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, int] = {}  # path -> answer 500 this many more times
        self.drop_after: dict[str, int] = {}  # path -> close the connection after this many body bytes (once)
        self.announce: dict[str, int] = {}  # path -> Content-Length to claim instead of the truth
        self.no_range: set[str] = set()  # paths whose server ignores Range (answers 200 with everything)
        self.no_length: set[str] = set()  # paths sent without Content-Length (the body ends when the connection does)
        self.requests: list[dict] = []  # path, Range header, status, body bytes sent
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.path = self.path.split("?")[0]
                record = {"path": self.path, "range": self.headers.get("Range"),
                          "authorization": self.headers.get("Authorization"), "sent": 0}
                state.requests.append(record)
                data = state.files.get(self.path)
                if data is None:
                    record["status"] = 404
                    return self.send_error(404)
                if state.fail.get(self.path, 0) > 0:
                    state.fail[self.path] -= 1
                    record["status"] = 500
                    return self.send_error(500, "scripted failure")
                start = 0
                rng = self.headers.get("Range")
                if rng and self.path not in state.no_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        record["status"] = 416
                        return self.send_error(416)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    record["status"] = 206
                else:
                    self.send_response(200)
                    record["status"] = 200
                body = data[start:]
                if self.path in state.no_length:
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(state.announce.get(self.path, len(body))))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                cut = state.drop_after.pop(self.path, None)
                if cut is not None:
                    body = body[:cut]
                    self.close_connection = True
                record["sent"] = len(body)  # before writing: the client may be done before this thread resumes
                self.wfile.write(body)
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    s.files["/data.bin"] = PAYLOAD
    yield s
    s.close()


def no_sleep(delays):
    return delays.append


# --- the generic downloader --------------------------------------------------------------------------

def test_complete_download(server, tmp_path):
    dest = fetch(f"{server.url}/data.bin", tmp_path / "out" / "data.bin")
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "out" / "data.bin.part").exists()
    assert [(r["status"], r["range"]) for r in server.requests] == [(200, None)]


def test_interrupted_download_is_resumed_with_a_range_request(server, tmp_path):
    dest = tmp_path / "data.bin"
    server.drop_after["/data.bin"] = 100_000
    delays = []
    fetch(f"{server.url}/data.bin", dest, retries=2, sleep=no_sleep(delays))
    assert dest.read_bytes() == PAYLOAD
    first, second = server.requests
    assert first["status"] == 200 and first["sent"] == 100_000
    # The second request asked for the remainder only (from the last block written; the block being
    # read when the connection dropped is lost), and only the remainder was sent.
    kept = int(second["range"].removeprefix("bytes=").removesuffix("-"))
    assert 100_000 - (1 << 16) < kept <= 100_000 and second["status"] == 206
    assert second["sent"] == len(PAYLOAD) - kept
    assert delays == [2.0]


def test_partial_file_of_a_failed_run_is_resumed_by_the_next_run(server, tmp_path):
    dest = tmp_path / "data.bin"
    server.drop_after["/data.bin"] = 123_456
    with pytest.raises(DownloadError, match="giving up after 1 attempts.*kept and resumed"):
        fetch(f"{server.url}/data.bin", dest, retries=0)
    kept = (tmp_path / "data.bin.part").stat().st_size
    assert not dest.exists() and 0 < kept <= 123_456
    fetch(f"{server.url}/data.bin", dest, retries=0)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "data.bin.part").exists()
    assert server.requests[-1]["range"] == f"bytes={kept}-" and server.requests[-1]["sent"] == len(PAYLOAD) - kept


def test_server_that_ignores_range_restarts_the_file(server, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes from an earlier attempt")
    server.no_range.add("/data.bin")
    fetch(f"{server.url}/data.bin", dest)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=35-" and server.requests[0]["status"] == 200


def test_server_errors_are_retried_with_exponential_backoff(server, tmp_path):
    server.fail["/data.bin"] = 2
    delays = []
    fetch(f"{server.url}/data.bin", tmp_path / "data.bin", retries=3, backoff=1.5, sleep=no_sleep(delays))
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert [r["status"] for r in server.requests] == [500, 500, 200]
    assert delays == [1.5, 3.0]


def test_persistent_server_error_gives_up_and_leaves_nothing(server, tmp_path):
    server.fail["/data.bin"] = 10
    with pytest.raises(DownloadError, match="giving up after 3 attempts: HTTP 500"):
        fetch(f"{server.url}/data.bin", tmp_path / "data.bin", retries=2, sleep=no_sleep([]))
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server.url}/nothing.bin", tmp_path / "x.bin", sleep=no_sleep([]))
    assert len(server.requests) == 1 and list(tmp_path.iterdir()) == []


def test_wrong_size_is_rejected_and_nothing_is_left_at_dest(server, tmp_path):
    dest = tmp_path / "data.bin"
    # The server claims (and sends) fewer bytes than the provider publishes: a truncated file.
    server.announce["/data.bin"] = 1000
    with pytest.raises(DownloadError, match=f"server announces 1000 bytes, expected {len(PAYLOAD)}"):
        fetch(f"{server.url}/data.bin", dest, expected_size=len(PAYLOAD))
    assert not dest.exists() and not (tmp_path / "data.bin.part").exists()
    # Without a size from the server, the file is checked after the transfer.
    server.announce.clear()
    server.no_length.add("/data.bin")
    with pytest.raises(DownloadError, match="rejected: size 300000 bytes, expected 300001"):
        fetch(f"{server.url}/data.bin", dest, expected_size=len(PAYLOAD) + 1)
    assert not dest.exists() and not (tmp_path / "data.bin.part").exists()


def test_server_lying_about_the_size_never_yields_a_file(server, tmp_path):
    server.announce["/data.bin"] = len(PAYLOAD) + 500  # claims more than it has: every attempt falls short
    with pytest.raises(DownloadError, match="giving up"):
        fetch(f"{server.url}/data.bin", tmp_path / "data.bin", retries=2, sleep=no_sleep([]))
    assert not (tmp_path / "data.bin").exists()


def test_checksum_is_verified(server, tmp_path):
    good = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match="rejected: sha256"):
        fetch(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=("sha256", "0" * 64))
    assert list(tmp_path.iterdir()) == []
    fetch(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=("sha256", good))
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_complete_file_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    fetch(f"{server.url}/data.bin", dest, expected_size=len(PAYLOAD), checksum=("sha256", hashlib.sha256(PAYLOAD).hexdigest()))
    fetch(f"{server.url}/data.bin", dest)  # no expectations: an existing dest was renamed only when complete
    assert server.requests == []
    # A file that does not match what is expected is fetched again.
    dest.write_bytes(PAYLOAD[:10])
    fetch(f"{server.url}/data.bin", dest, expected_size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 1


def test_credentials_never_reach_the_log(server, tmp_path, caplog):
    import requests

    session = requests.Session()
    session.headers["Authorization"] = "Bearer TOKEN-abc123-secret"
    server.fail["/data.bin"] = 1
    port = server.url.rsplit(":", 1)[1]
    with caplog.at_level(logging.DEBUG):
        fetch(f"{server.url}/data.bin?sig=signed-secret", tmp_path / "a.bin", session=session, sleep=no_sleep([]))
        url = f"http://someone:pa55word-secret@127.0.0.1:{port}/data.bin"
        fetch(url, tmp_path / "b.bin", sleep=no_sleep([]))
    # Both secrets were really sent...
    assert server.requests[1]["authorization"] == "Bearer TOKEN-abc123-secret"
    assert server.requests[2]["authorization"].startswith("Basic ")
    # ...and neither they nor the signed query reached the log, which still says what happened.
    assert "retry 1/5" in caplog.text and "/data.bin" in caplog.text
    for secret in ("pa55word", "TOKEN-abc123", "signed-secret", "someone"):
        assert secret not in caplog.text
    assert redact_url(url + "?x=1") == f"http://127.0.0.1:{port}/data.bin?…"


# --- credentials ---------------------------------------------------------------------------------------

def test_missing_cds_credentials_stop_before_any_request(server, tmp_path):
    outputs = {s: tmp_path / f for s, f in STEP_FILES.items()}
    env = {"CDSAPI_URL": f"{server.url}/api"}  # a URL but no key
    with pytest.raises(CredentialsError, match=r"(?s)~/\.cdsapirc.*CDSAPI_URL and CDSAPI_KEY") as err:
        retrieve("reanalysis-era5-land-monthly-means", {"year": ["2000"]}, outputs, env=env, home=tmp_path)
    assert "key not found" in str(err.value)
    assert server.requests == [] and list(tmp_path.iterdir()) == []


def test_cds_credentials_from_rc_file_or_environment(tmp_path):
    (tmp_path / ".cdsapirc").write_text("url: https://cds.example/api\nkey: abcd-SECRET\n")
    url, key, origin = cds_credentials({}, tmp_path)
    assert (url, key) == ("https://cds.example/api", "abcd-SECRET") and "SECRET" not in origin
    url, key, origin = cds_credentials({"CDSAPI_URL": "u", "CDSAPI_KEY": "k"}, tmp_path / "nohome")
    assert (url, key) == ("u", "k") and origin == "environment variables CDSAPI_URL/CDSAPI_KEY"


def test_missing_earthdata_credentials_stop_before_any_request(tmp_path):
    with pytest.raises(CredentialsError, match=r"(?s)urs\.earthdata\.nasa\.gov.*~/\.netrc.*EARTHDATA_USERNAME") as err:
        download_mascon("RL06.3_V4", {"start": "2002-01", "end": "2021-12"}, tmp_path / "g.nc",
                        env={"EARTHDATA_USERNAME": "me"}, home=tmp_path)
    assert "only EARTHDATA_USERNAME is set" in str(err.value)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / ".netrc").write_text("machine other.host login a password b\n")
    with pytest.raises(CredentialsError, match="has no 'machine urs.earthdata.nasa.gov' entry"):
        earthdata_credentials({}, tmp_path)
    (tmp_path / ".netrc").write_text("machine urs.earthdata.nasa.gov login me password TopSecret\n")
    assert earthdata_credentials({}, tmp_path) == "netrc"
    assert earthdata_credentials({"EARTHDATA_USERNAME": "me", "EARTHDATA_PASSWORD": "pw"}, tmp_path / "x") == "environment"


# --- request builders ------------------------------------------------------------------------------------

def real_config(**changes):
    cfg = yaml.safe_load((REPO / "config" / "real.yaml").read_text())
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return validate(cfg)


MONTHS = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"]


def test_cds_request_of_the_real_config():
    cfg = real_config()
    assert years(cfg["period"]) == list(range(1982, 2022))
    assert cds_request(cfg, 1990) == ("reanalysis-era5-land-monthly-means", {
        "product_type": ["monthly_averaged_reanalysis"],
        # the five forcings, and for real.yaml's `paper` predictor set (Mo et al.: cwsc, model_twsa) e, ro,
        # swvl1-4 and src
        "variable": ["total_precipitation", "2m_temperature", "2m_dewpoint_temperature",
                     "snow_depth_water_equivalent", "surface_net_solar_radiation", "total_evaporation", "runoff",
                     "volumetric_soil_water_layer_1", "volumetric_soil_water_layer_2",
                     "volumetric_soil_water_layer_3", "volumetric_soil_water_layer_4", "skin_reservoir_content"],
        "year": ["1990"],
        "month": MONTHS,
        "time": ["00:00"],
        "data_format": "netcdf",
        "download_format": "zip",
        "grid": [0.5, 0.5],
        # the analysis cell centres: the CDS interpolates to points there (a shifted grid)
        "area": [89.75, -179.75, -89.75, 179.75],
    })


def test_cds_request_follows_dataset_area_grid_and_predictor_sets():
    cfg = real_config(**{"inputs.era5.dataset": "era5", "inputs.era5.grid": "native",
                         "grid": {"resolution": 1.0, "lat_min": 30, "lat_max": 38, "lon_min": -7, "lon_max": 7},
                         "gapfill.predictor_sets": {"mo": ["pcp", "tmp", "cwsc", "model_twsa"], "all": ["pcp"]}})
    assert era5_variables(cfg) == ["tp", "t2m", "d2m", "sd", "ssr", "e", "ro", "swvl1", "swvl2", "swvl3", "swvl4",
                                   "src"]
    dataset, req = cds_request(cfg, 2005)
    assert dataset == "reanalysis-era5-single-levels-monthly-means"
    assert req["variable"] == ["total_precipitation", "2m_temperature", "2m_dewpoint_temperature", "snow_depth",
                               "surface_net_solar_radiation", "evaporation", "runoff",
                               "volumetric_soil_water_layer_1", "volumetric_soil_water_layer_2",
                               "volumetric_soil_water_layer_3", "volumetric_soil_water_layer_4",
                               "skin_reservoir_content"]
    assert "grid" not in req
    assert req["area"] == [38.25, -7.25, 29.75, 7.25]  # [N, W, S, E], one native 0.25 deg cell of margin
    # ERA5-Land names; the CDS regrids to the configured step; cwsc alone adds e and ro only.
    cfg = real_config(**{"inputs.era5.grid": 0.25, "gapfill.predictor_sets": {"c": ["pcp", "cwsc"]},
                         "grid": {"resolution": 0.5, "lat_min": -60, "lat_max": 84, "lon_min": -180, "lon_max": 180}})
    _, req = cds_request(cfg, 2005)
    assert req["variable"][-2:] == ["total_evaporation", "runoff"] and req["grid"] == [0.25, 0.25]
    assert req["area"] == [83.875, -179.875, -59.875, 179.875]  # 0.25 cells tiling the 0.5 cells
    cfg = real_config(**{"inputs.era5.grid": 0.3})  # does not divide the grid: no shift, whole globe
    assert "area" not in cds_request(cfg, 2005)[1]
    cfg = real_config(**{"inputs.era5.grid": "native"})
    assert "area" not in cds_request(cfg, 2005)[1] and "grid" not in cds_request(cfg, 2005)[1]
    assert era5_variables(real_config(**{"gapfill.enabled": False,
                                         "gapfill.predictor_sets": {"c": ["cwsc"]}})) == ["tp", "t2m", "d2m", "sd", "ssr"]


def test_earthdata_request_for_the_configured_version():
    assert mascon_short_name() == "TELLUS_GRAC-GRFO_MASCON_CRI_GRID_RL06.3_V4"
    assert mascon_short_name("RL06.1_V3") == "TELLUS_GRAC-GRFO_MASCON_CRI_GRID_RL06.1_V3"
    assert mascon_filename("RL06.3_V4") == "GRCTellus.JPL.GLO.RL06.3M.MSCNv04CRI.nc"
    assert mascon_search("RL06.3_V4", {"start": "1982-01", "end": "2021-02"}) == {
        "short_name": "TELLUS_GRAC-GRFO_MASCON_CRI_GRID_RL06.3_V4", "temporal": ("1982-01-01", "2021-02-28")}
    with pytest.raises(ValueError, match="not understood"):
        mascon_short_name("v4")
    umm = {"DataGranule": {"ArchiveAndDistributionInformation": [
        {"Name": "GRCTellus.JPL.200204_202401.GLO.RL06.3M.MSCNv04CRI.nc", "SizeInBytes": 1234,
         "Checksum": {"Value": "abc", "Algorithm": "MD5"}},
        {"Name": "GRCTellus.JPL.200204_202401.GLO.RL06.3M.MSCNv04CRI.nc.md5", "SizeInBytes": 80}]}}
    assert granule_size_and_checksum(umm, "GRCTellus.JPL.200204_202401.GLO.RL06.3M.MSCNv04CRI.nc") == (1234, ("md5", "abc"))


def test_download_destinations_follow_the_schema():
    cfg = real_config()
    for role in ("grace", "era5", "sif", "koppen"):
        assert cfg["inputs"][role]["source"] == "download"
    assert cfg["inputs"]["koppen"]["url"] == "https://figshare.com/ndownloader/files/12407516"
    from twsrecon.config import ConfigError

    with pytest.raises(ConfigError, match="inputs.sif.url"):
        real_config(**{"inputs.sif": {"source": "download"}})
    with pytest.raises(ConfigError, match="inputs.sif.path"):
        real_config(**{"inputs.sif": {"source": "local"}})


# --- archives ----------------------------------------------------------------------------------------------

def write_geotiff(path, value, resolution):
    import rasterio
    from rasterio.transform import from_origin

    w, h = int(360 / resolution), int(180 / resolution)
    data = np.full((h, w), value, np.uint8)
    data[: h // 4] = 0  # some "ocean"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(-180, 90, resolution, resolution)) as dst:
        dst.write(data, 1)


def test_koppen_geotiff_is_extracted_from_a_beck_style_zip(tmp_path):
    from twsrecon.data.io.koppen import read_beck_geotiff

    zpath = tmp_path / "Beck_KG_V1.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for name, value, res in (("Beck_KG_V1_present_0p0083.tif", 1, 5.0), ("Beck_KG_V1_present_0p083.tif", 2, 2.0),
                                 ("Beck_KG_V1_present_0p5.tif", 3, 0.5), ("Beck_KG_V1_present_conf_0p5.tif", 90, 0.5),
                                 ("Beck_KG_V1_future_0p5.tif", 4, 0.5)):
            write_geotiff(tmp_path / name, value, res)
            z.write(tmp_path / name, name)
            (tmp_path / name).unlink()
        z.writestr("legend.txt", "1: Af Tropical, rainforest\n")
    dest = tmp_path / "koppen" / "koppen_geiger_0p5.tif"
    assert extract_koppen(zpath, dest, "0p5") == "Beck_KG_V1_present_0p5.tif"
    da = read_beck_geotiff(dest)
    assert da.shape == (360, 720) and set(np.unique(da.values)) == {0, 3}
    assert extract_koppen(zpath, tmp_path / "k083.tif", "0p083") == "Beck_KG_V1_present_0p083.tif"
    assert not list(tmp_path.rglob("*.part"))
    names = ["1991_2020/koppen_geiger_0p5.tif", "2071_2099/ssp585/koppen_geiger_0p5.tif"]
    with pytest.raises(ValueError, match="more than one GeoTIFF at resolution 0p5.*inputs.koppen.member"):
        koppen_member(names, "0p5")
    assert koppen_member(names, "0p5", member="1991_2020/koppen_geiger_0p5.tif") == names[0]
    # A URL that points at the GeoTIFF itself: copied as it is.
    write_geotiff(tmp_path / "plain.tif", 5, 10.0)
    extract_koppen(tmp_path / "plain.tif", tmp_path / "plain_out.tif")
    assert (tmp_path / "plain_out.tif").read_bytes() == (tmp_path / "plain.tif").read_bytes()


def test_cds_zip_is_unpacked_to_per_step_type_files(provider_data, tmp_path):
    real = {s: provider_data / "era5-cds" / f for s, f in STEP_FILES.items()}
    zpath = tmp_path / "cds.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:  # as the CDS sends it
        for s, f in real.items():
            z.write(f, f.name)
    outputs = {s: tmp_path / "2005" / f for s, f in STEP_FILES.items()}
    outputs["avgua"].parent.mkdir()
    found = unpack_cds(zpath, outputs, expected=["tp", "t2m"])
    assert found == {"avgua": ["t2m"], "avgad": ["tp"]}
    for s in outputs:
        assert outputs[s].read_bytes() == real[s].read_bytes()
    with pytest.raises(ValueError, match=r"lacks the variables \['sd'\]"):
        unpack_cds(zpath, outputs, expected=["tp", "t2m", "sd"])
    # A bare netCDF (what the CDS sends for a single step type) is split by the variables' step types.
    ds = xr.Dataset({v: (("valid_time", "latitude", "longitude"), np.ones((2, 3, 4), np.float32))
                     for v in ("t2m", "sd", "tp", "ro")},
                    coords={"valid_time": [0, 1], "latitude": [2.0, 1.0, 0.0], "longitude": [0.0, 1, 2, 3]})
    ds.to_netcdf(tmp_path / "bare.nc")
    assert unpack_cds(tmp_path / "bare.nc", outputs, expected=["t2m", "tp"]) == {"avgua": ["t2m", "sd"],
                                                                                 "avgad": ["tp", "ro"]}


def test_yearly_files_are_read_together(provider_data, tmp_path):
    """The reader concatenates the download rule's yearly per-step-type files into one series."""
    from twsrecon.data.io.era5 import open_era5

    paths = []
    for s, f in STEP_FILES.items():
        with xr.open_dataset(provider_data / "era5-cds" / f) as ds:
            for year in (2006, 2005):  # order of the paths must not matter
                out = tmp_path / str(year) / f
                out.parent.mkdir(exist_ok=True)
                ds.sel(valid_time=str(year)).to_netcdf(out)
                paths.append(out)
    fields, sources = open_era5(paths)
    assert set(fields) == {"t2m", "tp"}
    for var, f in (("t2m", STEP_FILES["avgua"]), ("tp", STEP_FILES["avgad"])):
        t = fields[var]["time"].to_index()
        assert len(t) == 24 and t.is_monotonic_increasing and t[0].strftime("%Y-%m") == "2005-01"
        with xr.open_dataset(provider_data / "era5-cds" / f) as ref:
            expect = ref[var].sel(valid_time=slice("2005", "2006")).values
        np.testing.assert_array_equal(fields[var].values, expect)
        assert "2005" in sources[var] and "2006" in sources[var]


# --- the workflow --------------------------------------------------------------------------------------------

JOB_LINE = r"^\s*{}\s+(\d+)\s*$"


def job_counts(text):
    import re

    counts = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_0-9]+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.mark.integration
def test_dry_run_of_real_config_lists_the_downloads_and_the_fan_out(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "real.yaml").read_text())
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules", config=cfg)
    counts = job_counts(proc.stdout)
    assert counts["download_era5"] == 40  # one CDS request per year 1982-2021
    for rule in ("download_grace", "download_sif", "download_koppen", "extract_koppen", "prepare_cube",
                 "koppen_classes"):
        assert counts[rule] == 1, rule
    assert counts["region_cells"] == 28 and counts["hyperparameters"] == 28 * 4
    assert counts["train_chunk"] == 28 * 4 * 16
    # Local sources: the same plan without any download job.
    for role in ("grace", "sif", "koppen"):
        path = tmp_path / f"{role}.file"
        path.touch()
        cfg["inputs"][role] = {"source": "local", "path": str(path)}
    (tmp_path / "era5.nc").touch()
    cfg["inputs"]["era5"] = {"source": "local", "paths": [str(tmp_path / "era5.nc")]}
    counts = job_counts(run_snakemake(tmp_path, "-n", "--quiet", "rules", config=cfg).stdout)
    assert not [r for r in counts if r.startswith(("download", "extract"))]
    assert counts["train_chunk"] == 28 * 4 * 16


@pytest.mark.integration
def test_download_rules_fetch_and_extract_through_snakemake(server, tmp_path):
    """download_sif, download_koppen and extract_koppen as Snakemake runs them, from the local server."""
    zbuf = tmp_path / "Beck_KG_V1.zip"
    with zipfile.ZipFile(zbuf, "w") as z:
        for name, value in (("Beck_KG_V1_present_0p5.tif", 3), ("Beck_KG_V1_present_0p083.tif", 2)):
            write_geotiff(tmp_path / name, value, 0.5 if name.endswith("0p5.tif") else 2.0)
            z.write(tmp_path / name, name)
    server.files["/beck.zip"] = zbuf.read_bytes()
    server.files["/sif.nc"] = PAYLOAD
    server.fail["/sif.nc"] = 1  # one 500 first: the rule's downloader retries
    work = tmp_path / "work"
    work.mkdir()
    (work / "placeholder.nc").touch()
    cfg = yaml.safe_load((REPO / "config" / "real.yaml").read_text())
    cfg["inputs"]["grace"] = {"source": "local", "path": "placeholder.nc"}
    cfg["inputs"]["era5"] = {"source": "local", "paths": ["placeholder.nc"]}
    cfg["inputs"]["sif"] = {"source": "download", "url": f"{server.url}/sif.nc",
                            "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    cfg["inputs"]["koppen"] = {"source": "download", "url": f"{server.url}/beck.zip", "resolution": "0p5"}
    targets = ("resources/sif/sif_monthly.nc", "resources/koppen/koppen_geiger_0p5.tif")
    run_snakemake(work, *targets, config=cfg)
    assert (work / targets[0]).read_bytes() == PAYLOAD
    from twsrecon.data.io.koppen import read_beck_geotiff

    assert set(np.unique(read_beck_geotiff(work / targets[1]).values)) == {0, 3}
    assert "retry 1/5" in (work / "logs/download/sif.log").read_text()
    assert "Beck_KG_V1_present_0p5.tif" in (work / "logs/download/extract_koppen.log").read_text()
    n = len(server.requests)
    proc = run_snakemake(work, "-n", *targets, config=cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr and len(server.requests) == n
