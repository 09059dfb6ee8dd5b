"""Hyperparameters of one region and model type: tuned with Optuna or read from a published study."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import torch  # noqa: E402

torch.set_num_threads(snakemake.threads)  # parallel jobs must not oversubscribe the cores

import tempfile  # noqa: E402

from twsrecon.hyperparameters import MissingStudyError, read_published  # noqa: E402
from twsrecon.io import write_json  # noqa: E402
from twsrecon.merge import PUBLISHED_SELECTION, TUNED_SELECTION  # noqa: E402
from twsrecon.reconstruction import region_arrays  # noqa: E402
from twsrecon.regions import own_cells  # noqa: E402
from twsrecon.training import TrainSettings, resolve_device  # noqa: E402
from twsrecon.tuning import sample_cells, tune_hyperparameters  # noqa: E402

region, model = snakemake.wildcards.region, snakemake.wildcards.model
s, t = snakemake.params.settings, snakemake.params.training
config = {"settings": s, "training": t}

cells_of = region_arrays(snakemake.input.region, snakemake.input.split, model)
cells_of = cells_of.subset(own_cells(cells_of.ds))  # cells joining by fallback do not shape the region's choice
if cells_of.ds.sizes["cell"] == 0:
    log.warning("%s has no usable cells for %s: nothing to tune", region, model)
    write_json({"region": region, "model": model, "excluded": True}, snakemake.output[0], config)
    raise SystemExit(0)

hp, selection = None, TUNED_SELECTION
if s["source"] == "published":
    try:
        with tempfile.TemporaryDirectory() as work:
            hp = read_published(s["published_dir"], region, model, work)
        selection = PUBLISHED_SELECTION
        log.info("published hyperparameters: %s", hp)
        log.warning("%s", PUBLISHED_SELECTION)
    except MissingStudyError as err:
        if not s["fallback_to_tune"]:
            raise
        # Loud: these hyperparameters will not be the authors' (the dry run counted such jobs, common.smk)
        log.warning("FALLBACK TO TUNING in %s for %s: %s. hyperparameters.fallback_to_tune is set, so this job "
                    "runs %d Optuna trials instead of reading the authors' study; put the study there to use the "
                    "published hyperparameters (config/README.md, 'The authors' Optuna studies')",
                    region, model, err, s["trials"])
if hp is None:
    device = resolve_device(snakemake.resources.device, log)
    n = len(cells_of.x)
    sample = cells_of.subset(sample_cells(n, s["cells"], t["seed"]))
    log.info("tuning %s in %s on %d of %d cells, %d trials, on the stored split's training and validation months",
             model, region, len(sample.x), n, s["trials"])
    hp = tune_hyperparameters(
        snakemake.params.study, f"{region}-study_OPTUNA_{model}", sample.x, sample.y, sample.flags, model,
        n_trials=s["trials"], space=s["search_space"], seed=t["seed"],
        settings=TrainSettings.from_params(t, epochs=s["epochs"], patience=s["patience"],
                                        batch_size=s["batch_size"] or t["batch_size"]),
        include_current=t["include_current_month"], device=device)
    log.info("tuned hyperparameters: %s", hp)
write_json({"region": region, "model": model, "excluded": False, "hyperparameters": hp.to_dict(),
            "selection": selection}, snakemake.output[0], config)
