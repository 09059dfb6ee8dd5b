"""Aridity index P/PET per cell (PET from the cube, or the user's map) and its classes."""

import numpy as np
import xarray as xr

from twsrecon.data.grid import Grid
from twsrecon.data.io import write_netcdf
from twsrecon.evaluation import aridity
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    settings = snakemake.params.aridity
    with xr.open_dataset(snakemake.input.cube) as cube:
        ds = aridity.aridity_of_cube(cube, settings, Grid.from_config(snakemake.params.grid))
    codes = ds["aridity_class"].values
    for k, name in enumerate(aridity.CLASSES):
        log.info("%-2s %5d cells", name, int((codes == k).sum()))
    log.info("median aridity index %.3f", float(np.nanmedian(ds["aridity_index"])))
    write_netcdf(ds.assign_attrs(title="Aridity index and classes"), snakemake.output[0], {"aridity": settings})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
