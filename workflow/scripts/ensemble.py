"""The skill-weighted ensemble of the reconstructions and the BCNN gap fills (see twsrecon.evaluation.ensemble)."""

import numpy as np

from twsrecon.data.io import write_netcdf
from twsrecon.evaluation.ensemble import ensemble
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    params = snakemake.params
    sets = list(params.predictor_sets)
    ds = ensemble(snakemake.input.cube, snakemake.input.split,
                  dict(zip(params.models, snakemake.input.reconstructions)),
                  dict(zip(sets, snakemake.input.evaluation)), dict(zip(sets, snakemake.input.production)),
                  min_months=params.min_months)
    for name, w in zip(ds["member"].values, ds["weight"].values):
        log.info("weight of %-12s median %.3f over the cells", name, np.nanmedian(np.where(w > 0, w, np.nan)))
    if "gap_weight" in ds:
        for name, w in zip(ds["gap_member"].values, ds["gap_weight"].values):
            log.info("weight of %-12s in months without GRACE: median %.3f", name,
                     np.nanmedian(np.where(w > 0, w, np.nan)))
    write_netcdf(ds, snakemake.output[0], {"models": list(params.models), "predictor_sets": sets,
                                           "min_months": params.min_months})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
