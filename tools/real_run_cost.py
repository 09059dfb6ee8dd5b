"""Cost model of the real global run (config/real.yaml): per GPU rule, the job count, models per job,
minibatch steps, FLOPs and kernel launches per job, projected GPU-hours, and CPU-hours per cell
measured on this machine.

FLOPs and launches per minibatch step are counted with torch.profiler on small CPU runs of the real
code (forward FLOPs of the matrix products and convolutions, x3 for forward + backward; launches = the
leaf aten operators of one whole step, each of which is at least one kernel on a GPU) and scaled to
the job's sizes: FLOPs linearly in the models (cells x fits) or pixels and particles, launches
constant (the batched models share every operator). A job's GPU time is projected per step as
max(launches x latency, FLOPs / sustained FLOP/s). The assumptions are printed with the table.

    .venv/bin/python tools/real_run_cost.py [--threads 1] [--markdown docs/real_run_cost.md]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import yaml
from torch.profiler import ProfilerActivity, profile

from twsrecon.gapfill.bcnn import ParticleCBAMNet
from twsrecon.gapfill.trainer import SVGDTrainer
from twsrecon.reconstruction.models import BatchedRegressor
from twsrecon.reconstruction.training import TrainSettings, train

# Assumptions (the real cell counts come from the data; these are sizes of the global 0.5° run).
LAND_CELLS = 60_000  # 0.5° land cells with GRACE data outside Antarctica
LARGEST_REGION_SHARE = 0.12  # the largest Köppen–Geiger region (e.g. arid_deserthot) holds ~12 % of them
TRAIN_SAMPLES = 128  # per cell: ~60 % of ~214 GRACE months with a complete window
VAL_SAMPLES = 43
EPOCHS_MEAN = 150  # early stopping (patience 30) typically ends a per-cell model after 100–200 epochs
LOW_PCC_SHARE = 0.2  # cells retrained after the LR re-tuning
HP = {"units": 50, "window": 12, "n_units": 50}  # mid of the authors' search space
LAUNCH_S = 10e-6  # per kernel: launch plus PyTorch eager overhead
SUSTAINED_FLOPS = 5e12  # fp32 on an A100/H100 for small batched matrix products (~25 % of peak)
BCNN_SUSTAINED_FLOPS = 40e12  # bf16 convolutions at 144x360 (large, well-shaped)
LIMITS_H = {"train_chunk": 6, "hyperparameters": 12, "retune_lr": 6, "bcnn": 10}  # profiles/slurm runtimes


def profile_step(fn) -> tuple[float, int]:
    """(forward-or-whole FLOPs counted by the profiler, leaf operator count) of one call of fn."""
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    events = prof.events()
    flops = sum(e.flops or 0 for e in events)
    leaves = sum(1 for e in events if e.name.startswith("aten::") and not e.cpu_children)
    return float(flops), leaves


def lstm_step(n_models: int, n_features: int, bidirectional: bool, batch: int):
    """FLOPs (fwd+bwd) and launches of one batched minibatch step of n_models per-cell models."""
    model = BatchedRegressor(n_models, n_features, HP["units"], (HP["n_units"],), bidirectional)
    model.initialise(range(n_models))
    x = torch.randn(n_models, batch, HP["window"], n_features)
    with torch.no_grad():
        fwd_flops, _ = profile_step(lambda: model(x))

    def whole():
        model.zero_grad()
        model(x).square().sum().backward()

    _, launches = profile_step(whole)
    return 3 * fwd_flops, launches + 12  # + the Adam update of the 6 parameter tensors (2 fused ops each)


def cpu_seconds_per_model_epoch(n_models: int, n_features: int, bidirectional: bool) -> float:
    rng = np.random.default_rng(0)
    n = TRAIN_SAMPLES + VAL_SAMPLES
    x = torch.tensor(rng.normal(size=(n_models, n, HP["window"], n_features)), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=(n_models, n)), dtype=torch.float32)
    tr = np.zeros((n_models, n), bool)
    tr[:, :TRAIN_SAMPLES] = True
    model = BatchedRegressor(n_models, n_features, HP["units"], (HP["n_units"],), bidirectional)
    model.initialise(range(n_models))
    epochs = 3
    c0 = time.process_time()
    train(model, x, y, np.arange(n_models), tr, ~tr, 1e-3, np.arange(n_models),
          TrainSettings(epochs=epochs, patience=10**6))
    return (time.process_time() - c0) / (epochs * n_models)


def bcnn_step(height: int, width: int, n_x: int, features: int, particles: int, batch: int):
    """FLOPs and launches of one SVGD step at full size, from a small run (1 particle, batch 1, 1/4 of
    the rows) scaled by pixels, particles and batch; launches from a whole small step."""
    h = max(8, height // 4 // 8 * 8)
    net = ParticleCBAMNet(1, n_x, features)
    x = torch.randn(1, n_x, h, width)
    with torch.no_grad():
        fwd_flops, _ = profile_step(lambda: net(x))
    small = ParticleCBAMNet(particles, n_x, 4)
    xs, ys = torch.randn(2, n_x, 16, 16), torch.randn(2, 16, 16)
    trainer = SVGDTrainer(small, n_train=10)
    _, launches = profile_step(lambda: trainer.step(xs, ys, torch.ones(2, 16, 16, dtype=torch.bool)))
    return 3 * fwd_flops * (height / h) * particles * batch, launches


def hours(steps: float, flops: float, launches: int, sustained: float) -> float:
    return steps * max(launches * LAUNCH_S, flops / sustained) / 3600


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/real.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(open(args.config))
    m, hpc = cfg["models"], cfg["hyperparameters"]
    types = m["types"]
    regions, chunks, fits = 28, m["chunks"], m["fits"]
    cells_mean = LAND_CELLS / regions
    cells_max = LAND_CELLS * LARGEST_REGION_SHARE
    bs = 32
    steps_epoch = math.ceil(TRAIN_SAMPLES / bs)
    rows = []

    # train_chunk: every (cell, fit) of a chunk is one model of the batched trainer
    probe = 64
    flops_probe, launches_lstm = lstm_step(probe, 6, True, bs)
    flops_model = flops_probe / probe
    for label, cells in (("mean region", cells_mean), ("largest region", cells_max)):
        models = cells / chunks * fits
        steps = EPOCHS_MEAN * steps_epoch
        rows.append(("train_chunk", f"{label}", regions * len(types) * chunks, models, steps, flops_model * models,
                     launches_lstm, hours(steps, flops_model * models, launches_lstm, SUSTAINED_FLOPS)))
    # hyperparameters: Optuna, one pooled model on `cells` sampled cells, trials in sequence
    pooled = min(hpc["cells"], cells_mean) * TRAIN_SAMPLES
    _, launches_one = lstm_step(1, 6, True, bs)
    for tbs in sorted({bs, hpc.get("batch_size") or bs}):
        steps = hpc["trials"] * EPOCHS_MEAN * math.ceil(pooled / tbs)
        flops_t = flops_model * tbs / bs
        rows.append(("hyperparameters", f"{hpc['trials']} trials in sequence, batch {tbs}", regions * len(types), 1,
                     steps, flops_t, launches_one, hours(steps, flops_t, launches_one, SUSTAINED_FLOPS)))
    # retune_lr: LR trials on the pooled low-PCC cells (all of them, not sampled), then their retraining
    low = LOW_PCC_SHARE * cells_mean
    tbs = hpc.get("batch_size") or bs
    lr_cells = min(hpc["cells"] or low, low)  # sampled as for tuning
    steps_t = hpc["lr_trials"] * EPOCHS_MEAN * math.ceil(lr_cells * TRAIN_SAMPLES / tbs)
    steps_r = EPOCHS_MEAN * steps_epoch
    h = hours(steps_t, flops_model * tbs / bs, launches_one, SUSTAINED_FLOPS) + hours(
        steps_r, flops_model * low * fits, launches_lstm, SUSTAINED_FLOPS)
    rows.append(("retune_lr", f"{hpc['lr_trials']} LR trials on {lr_cells:.0f} cells, batch {tbs} + retraining", regions * len(types), low * fits,
                 steps_t + steps_r, flops_model * low * fits, launches_lstm, h))
    # bcnn: 2 experiments x predictor sets, paper configuration
    g = cfg.get("gapfill", {})
    n_sets = len(g.get("predictor_sets", {"all": 0, "noSIF": 0}))
    flops_b, launches_b = bcnn_step(144, 360, 12, 48, 20, 12)
    calibrated = g.get("calibration", "none") != "none"  # a first fit without the months that calibrate it
    steps_b = 200 * 12 * (2 if calibrated else 1)
    case = "1 deg 144x360, 20 particles, batch 12" + (", two fits (gapfill.calibration)" if calibrated else "")
    rows.append(("bcnn", case, 2 * n_sets, 20, steps_b, flops_b, launches_b,
                 hours(steps_b, flops_b, launches_b, BCNN_SUSTAINED_FLOPS)))

    cpu_s = cpu_seconds_per_model_epoch(32, 6, True)
    cpu_h_cell = cpu_s * EPOCHS_MEAN * fits / 3600

    lines = ["| rule | case | jobs | models per job | minibatch steps per job | GFLOP per step | kernel launches "
             "per step | projected GPU-hours per job | projected GPU-hours, all jobs | SLURM limit (profile) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for rule, case, jobs, models, steps, flops, launches, gpu_h in rows:
        total = gpu_h * jobs
        lines.append(f"| {rule} | {case} | {jobs} | {models:,.0f} | {steps:,.0f} | {flops / 1e9:,.2f} | {launches} | "
                     f"{gpu_h:,.3g} | {total:,.3g} | {LIMITS_H[rule]:g} h: {'over' if gpu_h > LIMITS_H[rule] else 'within'} |")
    notes = [
        "",
        f"Measured here (CPU, {torch.get_num_threads()} thread, shared 2-core machine under load): "
        f"{cpu_s * 1e3:.1f} CPU-ms per model-epoch of the batched BiLSTM trainer (32 models, units "
        f"{HP['units']}, window {HP['window']}), i.e. {cpu_h_cell:.3f} CPU-hours per cell "
        f"({fits} fits x {EPOCHS_MEAN} epochs).",
        "",
        "Assumptions: " + "; ".join([
            f"{LAND_CELLS:,} land cells in 28 regions (mean {cells_mean:,.0f}, largest {cells_max:,.0f})",
            f"{TRAIN_SAMPLES} training samples per cell, batch {bs}",
            f"{EPOCHS_MEAN} epochs per model on average (max 1000)",
            f"hyperparameters units {HP['units']}, window {HP['window']}, one dense layer of {HP['n_units']}",
            f"{LOW_PCC_SHARE:.0%} low-PCC cells",
            f"kernel launch + eager overhead {LAUNCH_S * 1e6:.0f} us",
            f"sustained {SUSTAINED_FLOPS / 1e12:.0f} TFLOP/s fp32 (LSTM), {BCNN_SUSTAINED_FLOPS / 1e12:.0f} "
            "TFLOP/s bf16 (BCNN)",
            "a step costs max(launches x latency, FLOPs / sustained)",
            "hyperparameters runs only where no published study exists (real.yaml reads the authors')"]),
        "",
        "GPU: none was available in this session; every GPU figure is projected, none measured.",
    ]
    text = "\n".join(lines + notes)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# Cost of the real run (`config/real.yaml`)\n\n"
                    "Output of `tools/real_run_cost.py` (rerun it on a GPU node to replace projections by "
                    "measurements).\n\n" + text + "\n")


if __name__ == "__main__":
    main()
