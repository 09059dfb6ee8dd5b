"""Hyperparameters of one region and model type: tuned with Optuna or read from a published study."""

import torch

from twsrecon.data.io import write_json
from twsrecon.logs import setup
from twsrecon.reconstruction.fitting import region_arrays
from twsrecon.reconstruction.tuning import choose_hyperparameters
from twsrecon.regions.cells import own_cells


def main(snakemake):
    log = setup(snakemake.log[0])
    torch.set_num_threads(snakemake.threads)  # parallel jobs must not oversubscribe the cores
    region, model = snakemake.wildcards.region, snakemake.wildcards.model
    s, t = snakemake.params.settings, snakemake.params.training
    config = {"settings": s, "training": t}
    cells_of = region_arrays(snakemake.input.region, snakemake.input.split, model)
    cells_of = cells_of.subset(own_cells(cells_of.ds))  # cells joining by fallback do not shape the region's choice
    if cells_of.ds.sizes["cell"] == 0:
        log.warning("%s has no usable cells for %s: nothing to tune", region, model)
        write_json({"region": region, "model": model, "excluded": True}, snakemake.output[0], config)
        return
    hp, selection = choose_hyperparameters(cells_of, region, model, s, t, snakemake.params.study,
                                           snakemake.resources.device, log)
    write_json({"region": region, "model": model, "excluded": False, "hyperparameters": hp.to_dict(),
                "selection": selection}, snakemake.output[0], config)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
