"""The train/validation/test split of every cell of one region, drawn once before any tuning or training."""

import numpy as np
import xarray as xr

from twsrecon.data.io import write_netcdf
from twsrecon.logs import setup
from twsrecon.reconstruction.features import months_per_set, split_dataset


def main(snakemake):
    log = setup(snakemake.log[0])
    s, p = snakemake.params.split, snakemake.params
    if s["chunk_months"] < p.history + 1:
        log.warning("split.chunk_months = %d is shorter than the largest window + 1 (%d): test months' windows "
                    "reach further into neighbouring chunks", s["chunk_months"], p.history + 1)
    with xr.open_dataset(snakemake.input.region) as region:
        ds = split_dataset(region.load(), chunk_months=s["chunk_months"], seed=p.seed, fractions=s["fractions"],
                           holdout=s["holdout"], history=p.history)
    counts = months_per_set(ds["split"].values)
    if len(counts):
        log.info("%s: %d cells; median months train/validation/test %s", snakemake.wildcards.region, len(counts),
                 "/".join(f"{v:g}" for v in np.median(counts, axis=0)))
    write_netcdf(ds, snakemake.output[0], {"split": s, "seed": p.seed, "history": p.history})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
