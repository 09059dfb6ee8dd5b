"""PCC screening of a region's trained cells, learning-rate re-tuning and retraining of the low-PCC cells."""

import tempfile
from pathlib import Path

import pandas as pd
import torch
import xarray as xr
from safetensors.torch import save_file

from twsrecon.hyperparameters import Hyperparameters, read_published_lr
from twsrecon.io import atomic_output, read_json, write_csv, write_netcdf
from twsrecon.logs import setup
from twsrecon.provenance import canonical_json
from twsrecon.reconstruction import region_arrays
from twsrecon.training import TrainSettings, resolve_device
from twsrecon.tuning import screen_and_retune


def main(snakemake):
    log = setup(snakemake.log[0])
    torch.set_num_threads(snakemake.threads)  # parallel jobs must not oversubscribe the cores
    region, model = snakemake.wildcards.region, snakemake.wildcards.model
    s, t = snakemake.params.settings, snakemake.params.training
    hp_file = read_json(snakemake.input.hyperparameters)
    config = {"settings": s, "training": t, "hyperparameters": hp_file.get("hyperparameters")}
    chunks = [c for c in (xr.open_dataset(p).load() for p in snakemake.input.chunks) if "twsa" in c]
    weights, lr = {}, None
    if hp_file["excluded"] or not chunks:
        log.warning("%s has no trained cells for %s", region, model)
        final = xr.Dataset()
        table = pd.DataFrame(columns=["cell", "lat", "lon", "pcc_train_validation"])
    else:
        hp = Hyperparameters.from_dict(hp_file["hyperparameters"])
        cells_of = region_arrays(snakemake.input.region, snakemake.input.split, model)
        published_lr = None
        if s["source"] == "published" and snakemake.input.studies:
            with tempfile.TemporaryDirectory() as work:
                published_lr = read_published_lr(s["published_dir"], region, model, work)
        final, table, weights, lr = screen_and_retune(
            chunks, cells_of.x, cells_of.y, cells_of.flags, cells_of.ds["cell"].values, hp, model,
            threshold=t["pcc_threshold"], published_lr=published_lr, lr_trials=s["lr_trials"],
            study_path=Path(snakemake.params.study), study_name=f"{region}-study_LR_OPTUNA_{model}", seed=t["seed"],
            fits=t["fits"],
            settings=TrainSettings.from_params(t),
            tune_settings=TrainSettings.from_params(t, tuning=s),
            include_current=t["include_current_month"], device=str(resolve_device(snakemake.resources.device, log)),
            lr_cells=s["cells"], lr_trials_at_once=s["lr_trials_at_once"])
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
