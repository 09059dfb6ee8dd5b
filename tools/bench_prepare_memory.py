"""Benchmark: peak memory of the cube preparation against input size and chunk size.

Generates demo worlds whose source grids differ in size (0.25 deg and 0.1 deg ERA5, about 6x more
data), builds the cube from each with small and large time chunks, each in a fresh process, and
prints wall time and peak resident memory. Peak memory should follow the chunk size, not the input.

    .venv/bin/python tools/bench_prepare_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, re, sys, time
from twsrecon.data.cube import prepare_cube
from twsrecon.data.grid import Grid
paths, chunk, out = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
inputs = {"grace": {"path": paths["grace"], "apply_scale_factor": True},
          "era5": {"paths": paths["era5"]}, "sif": {"path": paths["sif"]}}
prepare_cube(inputs, Grid(1.0, 30, 46, -14, 14), "1982-01", "2021-12", out, config={"bench": chunk},
           chunk_months=chunk, threads=2)
# VmHWM is this process's own peak; ru_maxrss would include the parent's peak from before exec.
hwm = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
print(json.dumps([time.perf_counter() - t0, hwm]))
"""


def main():
    from twsrecon.data.demo import DemoSpec
    from twsrecon.data.demo_world import generate

    print(f"{'ERA5 grid':>10} {'input MB':>9} {'chunk':>6} {'seconds':>8} {'peak RSS MB':>12}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for fine in (0.25, 0.1):
            spec = DemoSpec(fine_resolution=fine)
            paths = generate(spec, spec.domain(1.0), Path(tmp) / f"demo{fine}")
            size = sum(Path(p).stat().st_size for p in [*paths["era5"], paths["grace"], paths["sif"]]) / 2**20
            arg = json.dumps({"grace": str(paths["grace"]), "era5": [str(p) for p in paths["era5"]],
                              "sif": str(paths["sif"])})
            for chunk in (12, 480):
                out = subprocess.run([sys.executable, "-c", CHILD, arg, str(chunk), str(Path(tmp) / "cube.nc")],
                                     capture_output=True, text=True, check=True)
                seconds, rss = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"{fine:>10} {size:>9.0f} {chunk:>6} {seconds:>8.1f} {rss:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
