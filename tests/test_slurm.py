"""The workflow on a real SLURM cluster through `--profile slurm` (not a mock of sbatch).

The cluster is one node with one fake GPU, started and stopped by the `slurm_cluster` fixture
(tests/slurm/start.sh, stop.sh); the test skips with the reason where that is impossible (not root, no apt).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from safetensors.numpy import load_file

from conftest import REPO, SNAKEMAKE, TINY_DEMO, dry_run, planned_jobs, run_snakemake

REGIONS = ["temperate_nodrywarmsum", "polar_tundra"]
# Every rule runs: the data stages for two regions, the modelling chain for one model type, the BCNN with
# tiny settings. The GPU rules run on CPU (the test node's GPU is /dev/null) while SLURM gives them --gpus=1.
SLURM_TINY = {
    **TINY_DEMO,
    "regions": {"min_cells": 2, "include": REGIONS},
    "models": {**TINY_DEMO["models"], "types": ["LSTM"], "device": "cpu"},
    "gapfill": {**TINY_DEMO["gapfill"], "predictor_sets": {"all": ["pcp", "tmp", "snow", "rad", "rh", "sif"]},
                "device": "cpu"},
    "evaluation": {"timeseries_regions": REGIONS},
}
LOCAL_RULES = {"all", "demo_world", "koppen_classes", "region_summary", "split", "gridded_split",
               "reconstruction_skill", "gapfill_product", "evaluation_tables", "skill_table", "score_maps",
               "score_boxplots", "timeseries_figure", "gap_figures", "summary_figure"}
CPU_RULES = {"prepare_cube", "region_cells", "merge_reconstruction", "aridity", "score_product", "gap_trend"}
GPU_RULES = {"hyperparameters", "train_chunk", "retune_lr", "bcnn"}
# The rule log each GPU job writes (the device line comes from twsrecon.device.resolve_device).
GPU_LOGS = {"hyperparameters": "logs/hyperparameters/{model}/{region}.log",
            "train_chunk": "logs/train_chunk/{model}/{region}/chunk{chunk}.log",
            "retune_lr": "logs/retune_lr/{model}/{region}.log",
            "bcnn": "logs/bcnn/{experiment}/{predictors}.log"}


def slurm_jobs(env) -> dict[str, dict]:
    """Every job the controller knows (finished ones included, MinJobAge permitting), by SLURM job id."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, env=env, timeout=60,
                         check=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w[\w/:]*)=(\S*)", line))
        if "JobId" in fields:  # an array task by <array job id>_<task id>, as sbatch and the executor name it
            key = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}" if "ArrayTaskId" in fields else fields["JobId"]
            jobs[key] = fields
    return jobs


def compare_results(a: Path, b: Path):
    """The outputs of two runs hold the same data: netCDF data variables and coordinates, CSV and JSON
    contents, safetensors weights. Attributes are not compared: they carry the config and code version,
    which are equal here, and nothing else that could differ; the Optuna journals are not outputs (they hold
    timestamps)."""
    files_a = sorted(p.relative_to(a) for p in (a / "results").rglob("*") if p.is_file() and p.suffix != ".journal")
    files_b = sorted(p.relative_to(b) for p in (b / "results").rglob("*") if p.is_file() and p.suffix != ".journal")
    assert files_a == files_b
    assert any(f.suffix == ".safetensors" for f in files_a) and any(f.suffix == ".nc" for f in files_a)
    for rel in files_a:
        fa, fb = a / rel, b / rel
        if rel.suffix == ".nc":
            with xr.open_dataset(fa) as da, xr.open_dataset(fb) as db:
                xr.testing.assert_equal(da, db)
        elif rel.suffix == ".json":
            assert json.loads(fa.read_text()) == json.loads(fb.read_text()), rel
        elif rel.suffix == ".safetensors":
            ta, tb = load_file(fa), load_file(fb)
            assert ta.keys() == tb.keys(), rel
            for k in ta:
                np.testing.assert_array_equal(ta[k], tb[k], err_msg=f"{rel}: {k}")
        elif rel.suffix == ".png":  # the same data drawn by the same matplotlib: the same bytes
            assert fa.read_bytes() == fb.read_bytes(), rel
        else:  # CSV (the leading # lines hold config and code version: equal too)
            assert fa.read_text() == fb.read_text(), rel


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML that rejects a repeated key (plain YAML keeps the last one silently)."""


def _unique_mapping(loader, node, deep=False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    assert len(keys) == len(set(keys)), f"repeated keys in {keys}"
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def test_profile_asks_gpus_for_the_gpu_rules(tmp_path):
    from importlib.metadata import version

    profile = yaml.load((REPO / "profiles" / "slurm" / "config.yaml").read_text(), Loader=UniqueKeyLoader)
    assert profile["executor"] == "slurm"
    assert tuple(int(p) for p in version("snakemake-executor-plugin-slurm").split(".")[:3]) >= (2, 7, 1)
    resources = profile["set-resources"]
    # hyperparameters asks for its GPU in the rule, only while it tunes (workflow/rules/tune.smk)
    assert {rule for rule, res in resources.items() if res.get("gpu") == 1} == GPU_RULES - {"hyperparameters"}
    assert all("gres" not in res for res in resources.values())  # GPUs through `gpu:`, never hand-written gres
    rules = set(run_snakemake(tmp_path, "--list-rules").stdout.split())
    assert set(resources) <= rules and not set(resources) & LOCAL_RULES


def test_bare_profile_name_works_from_the_repository_root(tmp_path):
    """`snakemake --profile slurm` as users type it: Snakemake takes an existing relative path first, and the
    `slurm` link at the repository root points at profiles/slurm; the explicit path keeps working. No
    user or site profile directory takes part (an empty XDG_CONFIG_HOME)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONDONTWRITEBYTECODE": "1"}
    found = subprocess.run(
        [sys.executable, "-c", "from snakemake.cli import get_profile_dir; print(get_profile_dir('slurm')[1].resolve())"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=True).stdout.strip()
    assert Path(found) == (REPO / "profiles" / "slurm" / "config.yaml").resolve()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(SLURM_TINY))
    plans = {}
    for profile in ("slurm", "profiles/slurm"):
        proc = subprocess.run([str(SNAKEMAKE), "-n", "--profile", profile, "--directory", str(tmp_path / "plan"),
                               "--configfile", str(cfg)], capture_output=True, text=True, cwd=REPO, env=env,
                              timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"--profile {profile} -n failed:\n{output[-4000:]}"
        assert f"Using profile {profile} for setting default command line arguments." in output
        plans[profile] = planned_jobs(output)
    assert set(plans["slurm"]) == set(plans["profiles/slurm"]) and plans["slurm"]  # the same jobs
    # The profile stays opt-in: nothing is called profiles/default, which Snakemake would load for local runs.
    assert not (REPO / "profiles" / "default").exists()


def job_of(jobs: dict[str, dict], rule: str) -> list[dict]:
    return [j for j in jobs.values() if re.fullmatch(rf"rule_{rule}(_wildcards_.*)?", j["Comment"])]


def assert_sbatch_options(jobs: dict[str, dict]):
    """What the controller recorded of the profile's sbatch options, for a GPU rule and a CPU rule:
    partition (profiles/slurm/partitions.yaml), GPUs, CPUs, time limit, array, requeue."""
    train = job_of(jobs, "train_chunk")
    assert train
    for job in train:
        assert job["Partition"] == "gpu" and job["TresPerJob"] == "gres:gpu:1", job
        assert job["CpusPerTres"] == "gres:gpu:2" and job["NumCPUs"] == "2", job  # cpus_per_gpu: 2
        assert job["TimeLimit"] == "06:00:00" and job["Requeue"] == "1", job  # runtime: 360; slurm-requeue
    (cube,) = job_of(jobs, "prepare_cube")
    assert cube["Partition"] == "cpu" and "gpu" not in cube.get("TresPerJob", ""), cube
    assert cube["NumCPUs"] == "2" and cube.get("CpusPerTres", "") == "", cube  # threads: 2, no GPU
    assert cube["Requeue"] == "1" and "ArrayTaskId" not in cube, cube
    assert cube["TimeLimit"] == "00:30:00", cube  # the rule's runtime from its input size
    # hyperparameters tunes here (the demo has no published studies): its GPU comes from the rule
    for job in job_of(jobs, "hyperparameters"):
        assert job["Partition"] == "gpu" and job["TresPerJob"] == "gres:gpu:1", job


@pytest.mark.integration
def test_tiny_workflow_on_slurm_equals_local_run(slurm_cluster, tmp_path):
    env = {"SLURM_CONF": slurm_cluster["SLURM_CONF"]}
    planned = dry_run(tmp_path / "plan", config=SLURM_TINY)
    assert {rule for rule, _ in planned} == LOCAL_RULES | GPU_RULES | CPU_RULES
    remote = {key for key in planned if key[0] not in LOCAL_RULES}

    work = tmp_path / "slurm"
    work.mkdir()
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(SLURM_TINY))
    # The profile as a user runs it, by its bare name from the repository root (the `slurm` link there);
    # the only test override: this cluster has no accounting database, so job states come from squeue
    # (sacct would answer nothing and Snakemake would wait forever).
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(work), "--profile", "slurm",
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
           "--slurm-keep-successful-logs", "--configfile", str(cfg),
           # --directory moves Snakemake out of the repository, where the profile's relative partitions.yaml
           # path no longer resolves (a user running from the repository root needs no such override)
           "--slurm-partition-config", str(REPO / "profiles" / "slurm" / "partitions.yaml")]
    full_env = {**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=full_env, cwd=REPO)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake on SLURM failed ({proc.returncode}):\n{output[-10000:]}"

    # Every non-local job was a SLURM job, and only those: SLURM's own records (the plugin puts the rule
    # and wildcards into each job's comment).
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
    submitted += [f"{a}_{i}" for a, first, last in re.findall(  # array jobs (slurm-array-jobs): <id>_<task>
        r"and SLURM job ID (\d+)\. The individual task IDs are (\d+)-(\d+)", output)
        for i in range(int(first), int(last) + 1)]
    jobs = slurm_jobs(full_env)  # the test cluster is fresh: all its jobs are this run's
    assert set(submitted) == set(jobs), "the controller forgot some jobs (MinJobAge too short?)"
    assert len(jobs) == len(remote)
    by_rule = {}
    for job in jobs.values():
        assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0", job
        rule = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", job["Comment"]).group(1)
        by_rule[rule] = by_rule.get(rule, 0) + 1
        if rule in GPU_RULES:  # how SLURM records `sbatch --gpus=1`
            assert job.get("TresPerJob") == "gres:gpu:1", (rule, job)
        else:
            assert "gpu" not in job.get("TresPerJob", "") and "gpu" not in job.get("TRES", ""), (rule, job)
    expected = {}
    for rule, _ in remote:
        expected[rule] = expected.get(rule, 0) + 1
    assert by_rule == expected
    assert "prepare_cube" in by_rule and "bcnn" in by_rule
    assert_sbatch_options(jobs)

    # Jobs of an array rule that are ready together go as one SLURM array (slurm-array-jobs): here the
    # chunks of both regions, retrained at once.
    before = set(jobs)
    proc = subprocess.run([*cmd, "--forcerun", "train_chunk", "--until", "train_chunk"], capture_output=True,
                          text=True, timeout=1200, env=full_env)
    assert proc.returncode == 0, f"rerun of train_chunk on SLURM failed:\n{(proc.stdout + proc.stderr)[-6000:]}"
    rerun = [j for k, j in slurm_jobs(full_env).items() if k not in before]
    assert len(rerun) == len(REGIONS) and all(j["Comment"].startswith("rule_train_chunk") for j in rerun), rerun
    assert all("ArrayTaskId" in j for j in rerun) and len({j["ArrayJobId"] for j in rerun}) == 1, rerun

    # The GPU jobs saw the GPU SLURM gave them, and ran on the CPU as the config says.
    for rule, wildcards in remote:
        if rule in GPU_RULES:
            log = (work / GPU_LOGS[rule].format(**dict(wildcards))).read_text()
            assert "device cpu; CUDA_VISIBLE_DEVICES=0" in log, f"{rule} {wildcards}:\n{log}"

    # The same config run locally gives the same outputs.
    local = tmp_path / "local"
    run_snakemake(local, config=SLURM_TINY, timeout=2400)
    log = (local / GPU_LOGS["train_chunk"].format(model="LSTM", region=REGIONS[0], chunk=0)).read_text()
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        assert "CUDA_VISIBLE_DEVICES=unset" in log
    compare_results(work, local)
