"""Benchmark: the N_s-particle BCNN as one grouped computation against a loop over N_s networks.

Both do the same work: the same input, the same weights (each single-particle network holds one
particle of the vectorised one, checked by comparing outputs), forward plus backward of the same
loss, train-mode BatchNorm. Prints seconds per step of each and the speed-up (target: vectorised at
least 2x the loop on CPU), and the time of a whole SVGD step (forward, backward, kernel, Adam).

    .venv/bin/python tools/bench_bcnn_particles.py [--particles 20] [--features 48] [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from twsrecon.gapfill.bcnn import ParticleCBAMNet, load_particle_state, particle_state
from twsrecon.gapfill.trainer import SVGDTrainer


def fwd_bwd(net: ParticleCBAMNet, x: torch.Tensor) -> torch.Tensor:
    net.zero_grad(set_to_none=True)
    out = net(x)
    out.square().mean().backward()
    return out.detach()


def seconds_per_step(fn, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lags", type=int, default=3)
    ap.add_argument("--predictors", type=int, default=6)
    ap.add_argument("--height", type=int, default=16)
    ap.add_argument("--width", type=int, default=28)
    ap.add_argument("--particles", type=int, default=20)
    ap.add_argument("--features", type=int, default=48)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: torch's default); on a shared machine use fewer threads than idle "
                         "cores, or OpenMP barriers wait on descheduled threads and both timings explode")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    n, n_x = args.particles, args.lags * args.predictors
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, n_x, args.height, args.width, generator=gen)

    vec = ParticleCBAMNet(n, n_x, args.features, seed=args.seed)
    singles = []
    for i in range(n):
        single = ParticleCBAMNet(1, n_x, args.features)
        load_particle_state(single, 0, particle_state(vec, i))
        singles.append(single)
    with torch.no_grad():
        diff = (vec(x) - torch.cat([s(x) for s in singles], 1)).abs().max().item()

    t_vec = seconds_per_step(lambda: fwd_bwd(vec, x), args.steps, args.warmup)
    t_loop = seconds_per_step(lambda: [fwd_bwd(s, x) for s in singles], args.steps, args.warmup)

    y = torch.randn(args.batch, args.height, args.width, generator=gen)
    mask = torch.rand(args.batch, args.height, args.width, generator=gen) < 0.7
    trainer = SVGDTrainer(vec, n_train=10 * args.batch)
    t_svgd = seconds_per_step(lambda: trainer.step(x, y, mask), args.steps, args.warmup)

    per_particle = sum(p.numel() for p in vec.parameters()) // n
    print(f"input=({args.batch}, {n_x}, {args.height}, {args.width}) particles={n} features={args.features} "
          f"params/particle={per_particle} torch_threads={torch.get_num_threads()} steps={args.steps}")
    print(f"max |vectorised - loop| output: {diff:.2e}")
    print(f"vectorised fwd+bwd: {t_vec:8.3f} s/step")
    print(f"loop fwd+bwd:       {t_loop:8.3f} s/step")
    print(f"speed-up vectorised/loop: {t_loop / t_vec:.2f}x")
    print(f"vectorised SVGD step (fwd+bwd+kernel+Adam): {t_svgd:8.3f} s/step")


if __name__ == "__main__":
    main()
