# Hyperparameters per region and model type: tuned with Optuna, or read from published studies.


rule hyperparameters:
    message:
        "Hyperparameters of {wildcards.model} in {wildcards.region}"
    input:
        region="results/regions/{region}.nc",
        split="results/split/{region}.nc",
        studies=published_studies,
        code=package_modules("tuning", "hyperparameters", "models", "training", "features", "reconstruction"),
    output:
        "results/hyperparameters/{model}/{region}.json",
    params:
        settings=lambda wc: hp_settings(wc.region),
        training=training_settings(),
        # The study journal is not an output: Snakemake would delete it after a failed job,
        # and the rerun must continue the trials already done.
        study="results/optuna/{model}/{region}.journal",
    log:
        "logs/hyperparameters/{model}/{region}.log",
    benchmark:
        "benchmarks/hyperparameters/{model}/{region}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        # the region's series are loaded whole (the tuning sample is drawn from them)
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, [input.region]),
    script:
        "../scripts/hyperparameters.py"
