"""Merge the regions' per-cell results into one gridded reconstruction per model type."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import xarray as xr  # noqa: E402

from twsrecon.io import write_netcdf  # noqa: E402
from twsrecon.reconstruction import gridded  # noqa: E402

model = snakemake.wildcards.model
finals = [xr.open_dataset(p).load() for p in snakemake.input.finals]
with xr.open_dataset(snakemake.input.split) as split:
    ds = gridded(finals, split.load(), model, snakemake.params.predict_start)
log.info("%s: %d cells with a model", model, int((ds["retrained"] >= 0).sum()))
log.info("hyperparameters: %s", ds.attrs["hyperparameter_selection"])
write_netcdf(ds, snakemake.output[0], {"model": model, "predict_start": snakemake.params.predict_start,
                                       "regions": [f.attrs.get("region") for f in finals]})
