"""Benchmark: peak activation memory and seconds per SVGD step of the BCNN at the demo's, the paper's
and the global 0.5° sizes, on this CPU.

Activation memory is counted exactly: every tensor autograd stores for the backward pass goes through
`torch.autograd.graph.saved_tensors_hooks`, and the distinct storages (parameters left out) are summed
at the end of one particle group's forward, the moment of the step's peak (groups run forward and
backward one after the other; with all particles in one group that is the whole network). Where a full
step does not fit here, a smaller batch (and one particle group) is measured and scaled: stored
activations and time are linear in the batch and in the particles. Parameter state (weights,
gradients, two Adam moments, SVGD's flattened copies) is printed beside it.

    .venv/bin/python tools/bench_bcnn_memory.py [--threads 2] [--only demo,paper,global05]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from twsrecon.gapfill.bcnn import ParticleCBAMNet
from twsrecon.gapfill.trainer import SVGDTrainer

GIB = 1024**3


@dataclass(frozen=True)
class Case:
    name: str
    height: int
    width: int
    n_x: int
    features: int
    particles: int
    batch: int
    group: int  # particles per group
    measure_batch: int  # the batch measured (scaled to `batch`)
    checkpoint: bool = False


CASES = {
    "demo": [Case("demo (config/config.yaml: 16x28, 6 predictors x 3 lags, n_f 8, 4 particles, batch 12)",
                  16, 28, 18, 8, 4, 12, 4, 12)],
    "paper": [Case("paper (1 deg 60S-84N 144x360, 4 predictors x 3 lags, n_f 48, 20 particles, batch 12)",
                   144, 360, 12, 48, 20, 12, 20, 1),
              Case("paper, particles in groups of 5 (gapfill.particle_group: 5)", 144, 360, 12, 48, 20, 12, 5, 1),
              Case("paper, groups of 5 + activation checkpointing (CUDA option)", 144, 360, 12, 48, 20, 12, 5, 1,
                   True)],
    "global05": [Case("0.5 deg 60S-84N 288x720 (gapfill.resolution: 0.5), groups of 5", 288, 720, 12, 48, 20, 12,
                      5, 1),
                 Case("0.5 deg 90S-90N 360x720, all 20 particles at once", 360, 720, 12, 48, 20, 12, 20, 1),
                 Case("0.5 deg 90S-90N 360x720, groups of 2 + checkpointing", 360, 720, 12, 48, 20, 12, 2, 1,
                      True)],
}


def saved_activation_bytes(net: ParticleCBAMNet, x: torch.Tensor, start: int, stop: int) -> tuple[int, torch.Tensor]:
    """Bytes of the distinct storages autograd saves in one group's forward (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    storages: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            storages[st.data_ptr()] = st.nbytes()
        return t

    with net.group_view(start, stop) as group, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = group._forward_all(x)
    return sum(storages.values()), out


def measure(case: Case, steps: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    net = ParticleCBAMNet(case.particles, case.n_x, case.features, group_size=case.group, checkpoint=case.checkpoint)
    net.train()
    b = case.measure_batch
    x = torch.randn(b, case.n_x, case.height, case.width, generator=gen)
    act, out = saved_activation_bytes(net, x, 0, min(case.group, case.particles))
    out.float().square().mean().backward()
    per_particle = sum(p.numel() for p in net.parameters()) // case.particles
    param_state = sum(p.numel() for p in net.parameters()) * 4 * 6  # weights, grads, Adam m and v, SVGD θ and ∇
    scale_b = case.batch / b
    if b == case.batch and case.group == case.particles or case.name.startswith("demo"):
        y = torch.randn(b, case.height, case.width, generator=gen)
        mask = torch.rand(b, case.height, case.width, generator=gen) < 0.7
        trainer = SVGDTrainer(net, n_train=10 * b)
        trainer.step(x, y, mask)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            trainer.step(x, y, mask)
        seconds = (time.perf_counter() - t0) / steps * scale_b
        cpu = (time.process_time() - c0) / steps * scale_b
        how = "whole SVGD steps"
    else:  # one group's forward + backward at the measured batch, scaled to all groups and the full batch
        net.zero_grad(set_to_none=True)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            with net.group_view(0, case.group) as group:
                group._forward_all(x).square().mean().backward()
        seconds = (time.perf_counter() - t0) / steps * scale_b * case.particles / case.group
        cpu = (time.process_time() - c0) / steps * scale_b * case.particles / case.group
        how = f"fwd+bwd of 1 group at batch {b}, scaled x{scale_b:g} batch x{case.particles // case.group} groups"
    return {"activations_gib": act * scale_b / GIB, "params_mib": param_state / 1024**2,
            "params_per_particle": per_particle, "seconds": seconds, "cpu": cpu, "how": how}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--only", default="demo,paper,global05")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("Timings: a shared 2-core machine under load; wall seconds include waiting for the CPU")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; peak stored activations of one "
          "SVGD step (saved-tensor hooks, exact), parameter state, seconds per step")
    for key in args.only.split(","):
        for case in CASES[key]:
            r = measure(case, args.steps)
            print(f"{case.name}\n    activations {r['activations_gib']:9.3f} GiB  parameter state "
                  f"{r['params_mib']:8.1f} MiB ({r['params_per_particle']} params/particle)  "
                  f"{r['seconds']:9.2f} s/step wall, {r['cpu']:9.2f} CPU-s/step ({r['how']})", flush=True)


if __name__ == "__main__":
    main()
