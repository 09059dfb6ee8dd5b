"""The cells of one GR*Ai*CE region as (cell, time) series."""

import xarray as xr

from twsrecon.data.io import write_netcdf
from twsrecon.logs import setup
from twsrecon.regions.cells import region_cells


def main(snakemake):
    log = setup(snakemake.log[0])
    region = snakemake.wildcards.region
    with xr.open_dataset(snakemake.input.cube) as cube, xr.open_dataset(snakemake.input.classes) as classes:
        p = snakemake.params
        result = region_cells(cube, classes["kg_class"], region, p.min_cells, p.include, p.fallback)
        log.info("region %s: %d usable cells (%s)", region, result.dataset.sizes["cell"],
                 "included" if result.included else result.reason)
        title = f"Cells of the GR*Ai*CE region {region}: predictor and TWSA series"
        write_netcdf(result.dataset.assign_attrs(title=title), snakemake.output[0],
                     config={"region": region, "min_cells": p.min_cells, "include": p.include, "fallback": p.fallback})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
