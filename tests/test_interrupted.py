"""A run killed (SIGKILL: no handler runs) while prepare_cube writes leaves nothing behind once it is rerun."""

import os
import signal
import subprocess
import time

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, TINY_DEMO, run_snakemake

from twsrecon.data.io.netcdf import partial_path

pytestmark = pytest.mark.integration

CUBE = "results/cube/cube.nc"


def test_killed_prepare_cube_leaves_no_stray_file(tmp_path):
    config = {**TINY_DEMO, "prepare": {"chunk_months": 12}}  # more write steps: a wider window for the kill
    run_snakemake(tmp_path, "resources/demo/truth_twsa.nc", config=config)  # the demo world, not killed
    cube_dir = tmp_path / "results" / "cube"
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", CUBE,
           "--configfile", str(tmp_path / "config.yaml")]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    deadline = time.monotonic() + 600
    while not list(cube_dir.glob(".cube.nc*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until the cube's temporary file exists: the job is writing
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the job's script: nothing can clean up
    proc.wait()
    assert list(cube_dir.glob(".cube.nc*")), "the kill did not hit the write of the cube (the job ended first)"
    assert partial_path(tmp_path / CUBE, ".nc").exists()  # the one name the next run of the rule replaces
    assert not (tmp_path / CUBE).exists()

    run_snakemake(tmp_path, "--unlock", config=config)  # what a user does after a killed run
    run_snakemake(tmp_path, CUBE, config=config)
    left = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "results").rglob("*") if p.is_file())
    assert left == [CUBE], left
