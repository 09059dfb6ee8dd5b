"""Shared fixtures: the real files in ../shared/data, a demo world, and a runner for the workflow."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# TWSRECON_SHARED_DATA points the real-file tests elsewhere; a path that does not exist hides ../shared, to
# check that a clone without it still tests every reader (on tests/data).
SHARED_DATA = Path(os.environ.get("TWSRECON_SHARED_DATA") or REPO.parent / "shared" / "data")
FIXTURES = REPO / "tests" / "data"  # small crops of the real files, committed (tests/data/README.md)
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, the real files in full; skipped without it. The same readers are tested on crops of
    these files in tests/data whether or not it is there (test_readers_fixtures.py)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (../shared is present in CI, not in a user's clone)")
    return SHARED_DATA


@pytest.fixture(params=["fixtures", "shared"])
def provider_data(request) -> Path:
    """For tests that hold for any extent of the real files: tests/data, then ../shared/data (skipped without it)."""
    return FIXTURES if request.param == "fixtures" else request.getfixturevalue("shared_data")


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


TINY_DEMO = {
    "run": {"name": "tiny"},
    "grid": {"resolution": 1.0, "lat_min": 30, "lat_max": 38, "lon_min": -7, "lon_max": 7},
    "demo": {"enabled": True, "seed": 7, "lat_min": 30, "lon_min": -7, "patch_degrees": 2},
    "prepare": {"chunk_months": 60},
    "regions": {"min_cells": 2},
    "models": {"chunks": 1, "fits": 1, "epochs": 3, "patience": 2},
    "hyperparameters": {"trials": 2, "epochs": 2, "patience": 2, "cells": 2, "lr_trials": 2,
                        "search_space": {"units": [4, 8], "window": [3, 6], "n_units": [2, 8]}},
    # a --configfile replaces config/config.yaml: the options the tiny run tests are asked for here
    "gapfill": {"particles": 2, "n_features": 4, "epochs": 2, "calibration": "windows", "anchor": "edges",
                "overrides": {"noSIF": {"anchor": "shrunk"}}},
}


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory):
    """The default demo world, generated once per test session."""
    from twsrecon.data.demo import DemoSpec
    from twsrecon.data.demo_world import generate

    spec = DemoSpec()
    out = tmp_path_factory.mktemp("demo")
    paths = generate(spec, spec.domain(1.0), out, config={"test": True})
    return spec, paths


def run_snakemake(workdir: Path, *args, config: dict | None = None, check=True, timeout=900, snakefile=None,
                  env=None):
    """Run the real Snakemake CLI on this repository's Snakefile (or `snakefile`, e.g. a copy's) in `workdir`."""
    snakefile = snakefile or REPO / "Snakefile"
    Path(workdir).mkdir(parents=True, exist_ok=True)
    cmd = [str(SNAKEMAKE), "-s", str(snakefile), "--directory", str(workdir), "--cores", "2", *args]
    if config is not None:  # last: --configfile takes several values
        cfg = workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(cfg)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


# The data stages and the BCNN for all 28 regions; the modelling chain has its own smaller run.
TINY_TARGETS = ("results/regions/summary.csv", "results/gapfill/bcnn.nc",
                *(f"results/gapfill/{e}/{p}/summary.csv" for e in ("evaluation", "production")
                  for p in ("all", "noSIF")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run of the tiny demo config up to the regions and the BCNN, shared by integration tests."""
    work = tmp_path_factory.mktemp("tiny")
    run_snakemake(work, *TINY_TARGETS, config=TINY_DEMO)
    return work


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _message_patterns(rules_dir: Path) -> list[tuple[str, re.Pattern]]:
    """Each rule's `message:` as a regex: a dry run prints the message instead of the rule's name and
    wildcards, so the wildcards are read back from it ({wildcards.x} becomes a named group)."""
    patterns, rule = [], None
    for smk in sorted(rules_dir.glob("*.smk")):
        lines = smk.read_text().splitlines()
        for i, line in enumerate(lines):
            if m := re.match(r"(?:rule|checkpoint) (\w+):", line):
                rule = m.group(1)
            elif line.strip() == "message:" and rule:
                template = ast.literal_eval(lines[i + 1].strip())
                regex = ""
                for j, part in enumerate(re.split(r"\{([^}]*)\}", template)):
                    if j % 2 == 0:
                        regex += re.escape(part)
                    elif part.startswith("wildcards."):
                        regex += f"(?P<{part.split('.', 1)[1]}>.+?)"
                    else:
                        regex += ".+?"
                patterns.append((rule, re.compile(f"^{regex}$")))
    return patterns


def planned_jobs(output: str, rules_dir: Path = REPO / "workflow" / "rules") -> dict[tuple, str]:
    """The jobs a `snakemake -n` plans: {(rule, ((wildcard, value), ...)): reason}, read from its output.

    Checked against the run's own job-stats table, so a job the parser missed is an error, not a pass.
    """
    patterns = _message_patterns(rules_dir)
    jobs: dict[tuple, str] = {}
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"^Job \d+: (.*)$", line):  # a rule with a message
            hits = [(rule, p.match(m.group(1))) for rule, p in patterns]
            hits = [(rule, h) for rule, h in hits if h]
            assert len(hits) == 1, f"message matches {len(hits)} rules: {line!r}"
            rule, hit = hits[0]
            reason = lines[i + 1].removeprefix("Reason: ") if i + 1 < len(lines) else ""
            key = (rule, tuple(sorted(hit.groupdict().items())))
            jobs[key] = reason
        elif m := re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line):  # a rule without a message
            fields = {}
            while i + 1 < len(lines) and lines[i + 1].startswith("    "):
                i += 1
                name, _, value = lines[i].strip().partition(": ")
                fields[name] = value
            wildcards = tuple(sorted(tuple(w.split("=", 1)) for w in fields["wildcards"].split(", "))) \
                if fields.get("wildcards") else ()
            jobs[(m.group(1), wildcards)] = fields.get("reason", "")
        i += 1
    stats = {}
    if "Job stats:" in output:
        table = output.split("Job stats:", 1)[1].splitlines()[3:]
        for row in table:
            name, _, count = row.strip().rpartition(" ")
            if name.strip() == "total" or not row.strip():
                break
            stats[name.strip()] = int(count)
    counted = {}
    for rule, _ in jobs:
        counted[rule] = counted.get(rule, 0) + 1
    assert counted == stats, f"parsed jobs {counted} do not match the job stats {stats}:\n{output[-3000:]}"
    return jobs


def dry_run(workdir: Path, *args, config=None, snakefile=None) -> dict[tuple, str]:
    """`snakemake -n` in `workdir`: the planned jobs and their reasons (see planned_jobs)."""
    proc = run_snakemake(workdir, "-n", *args, config=config, snakefile=snakefile)
    rules_dir = Path(snakefile).parent / "workflow" / "rules" if snakefile else REPO / "workflow" / "rules"
    return planned_jobs(proc.stdout + proc.stderr, rules_dir)


def job_keys(*specs) -> set[tuple]:
    """{(rule, sorted wildcard items)} from (rule, {wildcard: value}) pairs, for exact comparisons."""
    return {(rule, tuple(sorted(wc.items()))) for rule, wc in specs}


def skip_or_fail(reason: str):
    """Skip with the reason; in CI (.ci/run sets TWSRECON_CI=1) a test that cannot run is a failure."""
    if os.environ.get("TWSRECON_CI"):
        pytest.fail(f"CI requires this test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real one-node SLURM cluster (tests/slurm/start.sh), stopped again by its saved PIDs at the end."""
    if os.geteuid() != 0:
        skip_or_fail("the SLURM test cluster needs root (slurmctld, slurmd and munged run as root)")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        skip_or_fail("SLURM is not installed and apt-get is not available to install it")
    state = tmp_path_factory.mktemp("slurm")
    # Finished jobs stay in the controller for the whole test, so that `scontrol show job` lists them all.
    env = {**os.environ, "SLURM_TEST_MIN_JOB_AGE": "3600"}
    stop = ["bash", str(REPO / "tests" / "slurm" / "stop.sh"), str(state)]
    try:
        proc = subprocess.run(["bash", str(REPO / "tests" / "slurm" / "start.sh"), str(state)], capture_output=True,
                              text=True, timeout=600, env=env)
    except BaseException:
        subprocess.run(stop, timeout=120)
        raise
    if proc.returncode == 2:
        subprocess.run(stop, timeout=120)
        skip_or_fail(f"no SLURM test cluster here: {proc.stderr.strip().splitlines()[-1]}")
    if proc.returncode != 0:
        subprocess.run(stop, timeout=120)
        pytest.fail(f"the SLURM test cluster did not start:\n{proc.stdout}\n{proc.stderr}")
    try:
        yield {"SLURM_CONF": str(state / "etc" / "slurm.conf"), "state": state}
    finally:
        stopped = subprocess.run(stop, capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, f"SLURM daemons left running: {stopped.stderr}"
