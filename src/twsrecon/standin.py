"""A stand-in for the `snakemake` object a rule's `script:` sees, so a script's `main` runs without Snakemake.

Built from Snakemake's own containers (snakemake.iocontainers, which imports only the standard library), so
`snakemake.input.cube`, `snakemake.input["cube"]`, `.keys()`, `.get()`, `snakemake.log[0]` and a named list
of files (`snakemake.input.era5`) behave as in a job. For tests and for running one step by hand:

    main(snakemake_standin(input={"cube": "cube.nc"}, output=["out.nc"], log=["out.log"]))
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from snakemake.iocontainers import InputFiles, Log, OutputFiles, Params, ResourceList, Snakemake, Wildcards


def _files(cls, files):
    """Paths as a rule lists them: a path, a list of paths, or names for either (a named list spans its items)."""
    out = cls()
    if files is None:
        return out
    if isinstance(files, (str, PathLike)):
        files = [files]
    if not isinstance(files, dict):
        out.extend(str(f) for f in files)
        return out
    for name, value in files.items():
        start = len(out)
        if isinstance(value, (str, PathLike)):
            out.append(str(value))
            out._set_name(name, start)
        else:
            out.extend(str(f) for f in value)
            out._set_name(name, start, end=len(out))
    return out


def _values(cls, values):
    """Params, wildcards or resources: one item per name."""
    return cls(fromdict=dict(values or {}))


def snakemake_standin(*, input=None, output=None, params=None, wildcards=None, threads: int = 1, resources=None,
                      log=None, config=None, rule: str = "standin") -> Snakemake:
    """The `snakemake` object of a job with these inputs, outputs, params, wildcards, threads, resources, log."""
    scriptdir = Path(__file__).resolve().parents[2] / "workflow" / "scripts"
    return Snakemake(_files(InputFiles, input), _files(OutputFiles, output), _values(Params, params),
                     _values(Wildcards, {k: str(v) for k, v in (wildcards or {}).items()}), threads,
                     _values(ResourceList, resources), _files(Log, log), dict(config or {}), rule, None,
                     str(scriptdir))
