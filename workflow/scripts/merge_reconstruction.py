"""Merge the regions' per-cell results into one gridded reconstruction per model type."""

import xarray as xr

from twsrecon.data.io import write_netcdf
from twsrecon.logs import setup
from twsrecon.reconstruction.merge import add_cell_status, gridded
from twsrecon.regions.cells import plan_cells
from twsrecon.regions.classes import STATUS


def main(snakemake):
    log = setup(snakemake.log[0])
    model = snakemake.wildcards.model
    p = snakemake.params
    finals = [xr.open_dataset(f).load() for f in snakemake.input.finals]
    with xr.open_dataset(snakemake.input.split) as split:
        ds = gridded(finals, split.load(), model, p.predict_start)
    with xr.open_dataset(snakemake.input.cube) as cube, xr.open_dataset(snakemake.input.classes) as classes:
        plan = plan_cells(cube, classes["kg_class"].values, p.include, p.min_cells, p.fallback)
    ds = add_cell_status(ds, plan, model)
    log.info("%s: %d cells with a model, %d of them by fallback", model, int((ds["retrained"] >= 0).sum()),
             int((ds["fallback"] == 1).sum()))
    for code, name in enumerate(STATUS[1:], start=1):
        if name != "not_land" and (n := int((ds["cell_status"] == code).sum())):
            log.warning("%s: %d cell(s) without a reconstruction: %s", model, n, name)
    log.info("hyperparameters: %s", ds.attrs["hyperparameter_selection"])
    write_netcdf(ds, snakemake.output[0], {"model": model, "predict_start": p.predict_start, "fallback": p.fallback,
                                           "regions": [f.attrs.get("region") for f in finals]})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
