# Hyperparameters per region and model type: tuned with Optuna, or read from published studies.


rule hyperparameters:
    message:
        "Hyperparameters of {wildcards.model} in {wildcards.region}"
    input:
        region="results/regions/{region}.nc",
        split="results/split/{region}.nc",
        studies=published_studies,
        code=script_imports("hyperparameters.py"),
    output:
        "results/hyperparameters/{model}/{region}.json",
    params:
        settings=lambda wc: tuning_settings(wc.region, "source", "published_dir", "fallback_to_tune", "trials",
                                            "epochs", "patience", "cells", "search_space", "batch_size"),
        training=training_settings("batch_size", "include_current_month", "shuffle", "restore_best", "trend"),
        # The study journal is not an output: Snakemake would delete it after a failed job,
        # and the rerun must continue the trials already done.
        study="results/optuna/{model}/{region}.journal",
    log:
        "logs/hyperparameters/{model}/{region}.log",
    benchmark:
        "benchmarks/hyperparameters/{model}/{region}.tsv"
    conda:
        torch_env(config["models"]["device"])
    threads: 1
    resources:
        device=config["models"]["device"],  # not a param: where a job runs does not change its result
        # the region's series are loaded whole (the tuning sample is drawn from them)
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, [input.region]),
        # a GPU only while it tunes: a job that reads a published study needs none (profiles/slurm/README.md)
        gpu=lambda wc: int(tunes(wc)),
    script:
        "../scripts/hyperparameters.py"
