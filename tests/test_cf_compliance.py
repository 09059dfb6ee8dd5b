"""Every netCDF the workflow writes passes the IOOS compliance checker's CF-1.8 test with no error.

The checker (`compliance-checker --test=cf:1.8`, the real CLI, offline: it ships the standard name table)
runs on the outputs of one tiny demo run shared by this module: the cube, the regions, a training chunk, a
reconstruction, the BCNN product and its fits, the score files, aridity and gap trend, and the demo truth.
The demo's synthetic provider files (resources/demo/, other than the truth) imitate the providers' formats as
published and are not checked. Warnings must be among the ones listed and justified in docs/cf_compliance.md.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY_DEMO, run_snakemake

CHECKER = Path(sys.executable).with_name("compliance-checker")
REGION = "temperate_nodrywarmsum"
CF_TINY = {
    **TINY_DEMO,
    "regions": {"min_cells": 2, "include": [REGION]},
    "models": {**TINY_DEMO["models"], "types": ["LSTM"]},
    "gapfill": {**TINY_DEMO["gapfill"], "experiments": ["production"], "epochs": 1,
                "predictor_sets": {"all": ["pcp", "tmp", "snow", "rad", "rh", "sif"]}},
    "evaluation": {"timeseries_regions": [REGION]},
}
TARGETS = ("results/reconstruction/LSTM.nc", "results/gapfill/bcnn.nc", "results/evaluation/scores/LSTM.nc",
           "results/evaluation/scores/BCNN_all.nc", "results/evaluation/aridity.nc",
           "results/evaluation/gap_trend.nc", "results/regions/summary.csv")
# The files the issue names, which must be among those checked.
REQUIRED = ("results/cube/cube.nc", "results/reconstruction/LSTM.nc", "results/gapfill/bcnn.nc",
            "results/evaluation/scores/LSTM.nc")
# Warnings accepted, each justified in docs/cf_compliance.md (regular expressions on the checker's message).
ACCEPTED_WARNINGS = (
    # The region files hold per-cell series as (time, cell): §2.4 recommends other dimensions left of T.
    r"^§2\.4 Dimensions: \w+'s spatio-temporal dimensions are not in the recommended order .*time \(T\), cell \(U\)",
)


@pytest.fixture(scope="module")
def cf_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("cf")
    run_snakemake(work, *TARGETS, config=CF_TINY, timeout=2400)  # the 2-core CI machine is shared
    return work


def cf_check(path: Path, out: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) of `compliance-checker --test=cf:1.8` on one file: the messages of its failed
    high-priority (error) and medium-priority (warning) checks."""
    proc = subprocess.run([str(CHECKER), "--test=cf:1.8", "--format=json", "--output", str(out), str(path)],
                          capture_output=True, text=True, timeout=300)
    assert out.exists(), f"compliance-checker wrote no report for {path} ({proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(out.read_text())["cf:1.8"]

    def failed(items):
        return [f"{item['name']}: {msg}" for item in items if item["value"][0] < item["value"][1]
                for msg in (item["msgs"] or ["(no message)"])]
    return failed(report["high_priorities"]), failed(report["medium_priorities"])


@pytest.mark.integration
def test_every_written_netcdf_passes_the_cf_checker(cf_run, tmp_path):
    files = sorted(p.relative_to(cf_run) for p in (cf_run / "results").rglob("*.nc"))
    files.append(Path("resources/demo/truth_twsa.nc"))
    assert {Path(f) for f in REQUIRED} <= set(files)
    errors, unexplained = {}, {}
    for k, rel in enumerate(files):
        errs, warns = cf_check(cf_run / rel, tmp_path / f"report{k}.json")
        if errs:
            errors[str(rel)] = errs
        extra = [w for w in warns if not any(re.search(a, w) for a in ACCEPTED_WARNINGS)]
        if extra:
            unexplained[str(rel)] = extra
    assert not errors, "CF-1.8 errors:\n" + json.dumps(errors, indent=1, ensure_ascii=False)
    assert not unexplained, "CF-1.8 warnings not in docs/cf_compliance.md:\n" + json.dumps(unexplained, indent=1,
                                                                                          ensure_ascii=False)
