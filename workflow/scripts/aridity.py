"""Aridity index P/PET per cell (PET from the cube, or the user's map) and its classes."""

import numpy as np
import xarray as xr

from twsrecon import aridity
from twsrecon.grid import Grid
from twsrecon.io import write_netcdf
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    settings = snakemake.params.aridity
    with xr.open_dataset(snakemake.input.cube) as cube:
        coords = cube[["lat_bnds", "lon_bnds", "crs"]].load().drop_attrs(deep=False)
        if settings["source"] in aridity.PET_METHODS:
            tmp = cube["tmp"].load()
            pet = (aridity.oudin_pet(tmp) if settings["source"] == "oudin"
                   else aridity.priestley_taylor_pet(tmp, cube["rad"].load(), cube["rh"].load()))
            p_yr, pet_yr, ai = aridity.aridity_index(cube["pcp"].load(), pet)
            method = "P from the cube's pcp; " + aridity.PET_METHODS[settings["source"]]
        else:
            ai = aridity.read_aridity_map(settings["path"], settings["variable"], settings["scale"],
                                          Grid.from_config(snakemake.params.grid))
            ai = ai.where(cube["twsa"].notnull().any("time"))
            p_yr = pet_yr = None
            method = f"user map {settings['path']} x {settings['scale']}"
    ds = aridity.aridity_dataset(coords, ai, p_yr, pet_yr, method)
    codes = ds["aridity_class"].values
    for k, name in enumerate(aridity.CLASSES):
        log.info("%-2s %5d cells", name, int((codes == k).sum()))
    log.info("median aridity index %.3f", float(np.nanmedian(ds["aridity_index"])))
    write_netcdf(ds.assign_attrs(title="Aridity index and classes"), snakemake.output[0], {"aridity": settings})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
