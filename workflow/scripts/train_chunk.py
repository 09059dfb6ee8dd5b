"""Train every cell of one chunk of a region (N fits each, all at once) and predict every month."""

import torch
import xarray as xr
from safetensors.torch import save_file

from twsrecon.hyperparameters import Hyperparameters
from twsrecon.io import atomic_output, read_json, write_netcdf
from twsrecon.logs import setup
from twsrecon.provenance import canonical_json
from twsrecon.reconstruction import chunk_cells, chunk_dataset, fit_cells, region_arrays
from twsrecon.training import TrainSettings, resolve_device


def main(snakemake):
    log = setup(snakemake.log[0])
    torch.set_num_threads(snakemake.threads)  # parallel jobs must not oversubscribe the cores
    region, model, chunk = snakemake.wildcards.region, snakemake.wildcards.model, int(snakemake.wildcards.chunk)
    t = snakemake.params.training
    hp_file = read_json(snakemake.input.hyperparameters)
    config = {"training": t, "hyperparameters": hp_file.get("hyperparameters"), "chunk": chunk,
              "n_chunks": snakemake.params.n_chunks}

    cells_of = region_arrays(snakemake.input.region, snakemake.input.split, model)
    idx = chunk_cells(cells_of.ds.sizes["cell"], snakemake.params.n_chunks, chunk)
    cells_of = cells_of.subset(idx)
    ds = cells_of.ds
    weights = {}
    if hp_file["excluded"] or len(idx) == 0:
        log.warning("no cells to train in %s chunk %d for %s", region, chunk, model)
        out = xr.Dataset(coords={"cell": ds["cell"].values, "time": ds["time"].values})
    else:
        hp = Hyperparameters.from_dict(hp_file["hyperparameters"])
        device = resolve_device(snakemake.resources.device, log)
        log.info("training %d cells x %d fits of %s in %s on %s with %s", len(idx), t["fits"], model, region, device, hp)
        res = fit_cells(cells_of.x, cells_of.y, cells_of.flags, ds["cell"].values, hp, model, fits=t["fits"],
                        seed=t["seed"], settings=TrainSettings.from_params(t),
                        include_current=t["include_current_month"], device=str(device))
        out = chunk_dataset(ds, res, cells_of.y, model, hp.learning_rate)
        weights = {k: v.cpu() for k, v in res.weights.items()}
        log.info("median PCC train+validation %.3f, test %.3f", float(out["pcc_train_validation"].median()),
                 float(out["pcc_test"].median()))
    write_netcdf(out.assign_attrs(title=f"GR*Ai*CE {model} per-cell fits, {region}, chunk {snakemake.wildcards.chunk}",
                                 region=region, model_type=model), snakemake.output.chunk, config)
    with atomic_output(snakemake.output.weights, suffix=".safetensors") as tmp:
        save_file(weights, str(tmp), metadata={"region": region, "model_type": model, "config": canonical_json(config),
                                               "cells": canonical_json(ds["cell"].values.tolist())})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
