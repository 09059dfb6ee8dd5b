"""PCC screening of a region's trained cells, learning-rate re-tuning and retraining of the low-PCC cells."""

import torch
import xarray as xr
from safetensors.torch import save_file

from twsrecon.data.io import atomic_output, read_json, write_csv, write_netcdf
from twsrecon.logs import setup
from twsrecon.provenance import canonical_json
from twsrecon.reconstruction.retune import retune_lr


def main(snakemake):
    log = setup(snakemake.log[0])
    torch.set_num_threads(snakemake.threads)  # parallel jobs must not oversubscribe the cores
    region, model = snakemake.wildcards.region, snakemake.wildcards.model
    s, t = snakemake.params.settings, snakemake.params.training
    hp_file = read_json(snakemake.input.hyperparameters)
    config = {"settings": s, "training": t, "hyperparameters": hp_file.get("hyperparameters")}
    chunks = [c for c in (xr.open_dataset(p).load() for p in snakemake.input.chunks) if "twsa" in c]
    final, table, weights, lr = retune_lr(
        chunks, snakemake.input.region, snakemake.input.split, region, model,
        None if hp_file["excluded"] else hp_file["hyperparameters"], s, t, snakemake.params.study,
        snakemake.resources.device, bool(snakemake.input.studies), log)
    final.attrs.update(title=f"GR*Ai*CE {model} per-cell result of {region} (original and re-tuned fits merged)",
                       region=region, model_type=model, retuned_learning_rate=lr if lr is not None else "none",
                       hyperparameter_selection=hp_file.get("selection", ""))
    write_netcdf(final, snakemake.output.final, config)
    write_csv(table, snakemake.output.low_pcc, config)
    with atomic_output(snakemake.output.weights, suffix=".safetensors") as tmp:
        cells = table.loc[table["kept"], "cell"].tolist() if "kept" in table else []
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp),
                  metadata={"region": region, "model_type": model, "learning_rate": str(lr),
                            "cells": canonical_json(cells), "config": canonical_json(config)})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
