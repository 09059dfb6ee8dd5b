"""Fit the BCNN by SVGD for one experiment and predictor set; write the record, the scores and the weights."""

import numpy as np
import pandas as pd
import torch
import xarray as xr
from safetensors.torch import save_file

from twsrecon.data.io import atomic_output, write_csv, write_netcdf
from twsrecon.gapfill.experiment import BCNNSettings, run_bcnn
from twsrecon.logs import setup
from twsrecon.provenance import canonical_json


def main(snakemake):
    log = setup(snakemake.log[0])
    torch.set_num_threads(snakemake.threads)
    exp, pset = snakemake.wildcards.experiment, snakemake.wildcards.predictors
    params = snakemake.params
    settings = BCNNSettings.from_params(params.settings)
    config = {"gapfill": params.settings, "experiment": exp, "predictors": params.predictors, "seed": params.seed}
    with xr.open_dataset(snakemake.input.cube) as cube:
        cube = cube.load()
    with xr.open_dataset(snakemake.input.classes) as classes:
        ice = np.isin(classes["kg_class"].values, settings.ice_classes)
    split = None
    if hasattr(snakemake.input, "split"):
        with xr.open_dataset(snakemake.input.split) as stored:
            split = stored["split"].load()
    run = run_bcnn(cube, ice, params.predictors, exp, pset, settings, seed=params.seed, split=split,
                   device=snakemake.resources.device,
                   particle_group=snakemake.resources.particle_group or None,
                   checkpoint=bool(snakemake.resources.checkpoint), log=log)
    write_netcdf(run.product, snakemake.output.product, config)
    write_netcdf(run.scores.assign_attrs(title=f"BCNN test-month scores ({exp}, {pset})"), snakemake.output.scores,
                 config)
    table = pd.DataFrame([{"experiment": exp, "predictors": pset, **run.summary}])
    write_csv(table, snakemake.output.summary, config)
    log.info("\n%s", table.T.to_string())
    with atomic_output(snakemake.output.weights, suffix=".safetensors") as tmp:
        save_file(run.weights, str(tmp),
                  metadata={"config": canonical_json(config), "channels": canonical_json(run.channels)})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
