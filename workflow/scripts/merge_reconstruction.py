"""Merge the regions' per-cell results into one gridded reconstruction per model type."""

import xarray as xr

from twsrecon.data.io import write_netcdf
from twsrecon.logs import setup
from twsrecon.reconstruction.merge import merge_reconstruction


def main(snakemake):
    log = setup(snakemake.log[0])
    model = snakemake.wildcards.model
    p = snakemake.params
    finals = [xr.open_dataset(f).load() for f in snakemake.input.finals]
    with (xr.open_dataset(snakemake.input.split) as split, xr.open_dataset(snakemake.input.cube) as cube,
          xr.open_dataset(snakemake.input.classes) as classes):
        ds = merge_reconstruction(finals, split.load(), cube, classes["kg_class"].values, model, p.predict_start,
                                  p.include, p.min_cells, p.fallback, log)
    write_netcdf(ds, snakemake.output[0], {"model": model, "predict_start": p.predict_start, "fallback": p.fallback,
                                           "regions": [f.attrs.get("region") for f in finals]})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
