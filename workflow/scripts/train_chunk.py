"""Train every cell of one chunk of a region (N fits each, all at once) and predict every month."""

import torch
from safetensors.torch import save_file

from twsrecon.data.io import atomic_output, read_json, write_netcdf
from twsrecon.logs import setup
from twsrecon.provenance import canonical_json
from twsrecon.reconstruction.fitting import region_arrays, train_chunk


def main(snakemake):
    log = setup(snakemake.log[0])
    torch.set_num_threads(snakemake.threads)  # parallel jobs must not oversubscribe the cores
    region, model, chunk = snakemake.wildcards.region, snakemake.wildcards.model, int(snakemake.wildcards.chunk)
    t, n_chunks = snakemake.params.training, snakemake.params.n_chunks
    hp_file = read_json(snakemake.input.hyperparameters)
    config = {"training": t, "hyperparameters": hp_file.get("hyperparameters"), "chunk": chunk, "n_chunks": n_chunks}
    cells_of = region_arrays(snakemake.input.region, snakemake.input.split, model)
    out, weights = train_chunk(cells_of, chunk, n_chunks, None if hp_file["excluded"] else hp_file["hyperparameters"],
                               model, t, snakemake.resources.device, region, log)
    write_netcdf(out.assign_attrs(title=f"GR*Ai*CE {model} per-cell fits, {region}, chunk {snakemake.wildcards.chunk}",
                                  region=region, model_type=model), snakemake.output.chunk, config)
    with atomic_output(snakemake.output.weights, suffix=".safetensors") as tmp:
        save_file(weights, str(tmp), metadata={"region": region, "model_type": model, "config": canonical_json(config),
                                               "cells": canonical_json(out["cell"].values.tolist())})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
