# Per-cell training in fixed chunks of cells, PCC screening and learning-rate re-tuning, merge.


localrules:
    reconstruction_skill,


rule train_chunk:
    message:
        "Training {wildcards.model} in {wildcards.region}, cell chunk {wildcards.chunk}"
    input:
        region="results/regions/{region}.nc",
        split="results/split/{region}.nc",
        hyperparameters="results/hyperparameters/{model}/{region}.json",
        code=script_imports("train_chunk.py"),
    output:
        chunk="results/training/{model}/{region}/chunk{chunk}.nc",
        weights="results/training/{model}/{region}/chunk{chunk}.safetensors",
    params:
        training=training_settings("fits", "epochs", "patience", "batch_size", "include_current_month", "shuffle",
                                   "restore_best", "combine_fits", "trend", "start"),
        n_chunks=config["models"]["chunks"],
    log:
        "logs/train_chunk/{model}/{region}/chunk{chunk}.log",
    benchmark:
        "benchmarks/train_chunk/{model}/{region}/chunk{chunk}.tsv"
    conda:
        torch_env(config["models"]["device"])
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 20 * input_mb(wc, input),
        device=config["models"]["device"],  # not a param: where a job runs does not change its result
    script:
        "../scripts/train_chunk.py"


rule retune_lr:
    message:
        "PCC screening and learning-rate re-tuning of {wildcards.model} in {wildcards.region}"
    input:
        chunks=expand("results/training/{{model}}/{{region}}/chunk{chunk}.nc", chunk=CHUNKS),
        region="results/regions/{region}.nc",
        split="results/split/{region}.nc",
        hyperparameters="results/hyperparameters/{model}/{region}.json",
        studies=published_studies,
        code=script_imports("retune_lr.py"),
    output:
        final="results/training/{model}/{region}/final.nc",
        low_pcc="results/training/{model}/{region}/low_pcc.csv",
        weights="results/training/{model}/{region}/retrained.safetensors",
    params:
        settings=lambda wc: tuning_settings(wc.region, "source", "published_dir", "lr_trials", "epochs", "patience",
                                            "batch_size", "cells", "lr_trials_at_once"),
        training=training_settings("fits", "epochs", "patience", "batch_size", "include_current_month",
                                   "pcc_threshold", "shuffle", "restore_best", "combine_fits", "trend", "start"),
        study="results/optuna/{model}/{region}_LR.journal",
    log:
        "logs/retune_lr/{model}/{region}.log",
    benchmark:
        "benchmarks/retune_lr/{model}/{region}.tsv"
    conda:
        torch_env(config["models"]["device"])
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 20 * input_mb(wc, input),
        device=config["models"]["device"],  # not a param: where a job runs does not change its result
    script:
        "../scripts/retune_lr.py"


rule merge_reconstruction:
    message:
        "Gridded {wildcards.model} reconstruction"
    input:
        finals=per_region("results/training/{model}/{region}/final.nc"),
        split=SPLIT_GRID,
        cube=CUBE,  # why a cell has no reconstruction
        classes=KOPPEN_CLASSES,
        code=script_imports("merge_reconstruction.py"),
    output:
        "results/reconstruction/{model}.nc",
    params:
        predict_start=config["models"]["predict_start"],
        include=REGIONS,
        min_cells=config["regions"]["min_cells"],
        fallback=config["regions"]["fallback"],
    log:
        "logs/merge_reconstruction/{model}.log",
    benchmark:
        "benchmarks/merge_reconstruction/{model}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 3 * input_mb(wc, input),
    script:
        "../scripts/merge_reconstruction.py"


rule reconstruction_skill:
    message:
        "Test PCC of {wildcards.model} against a monthly climatology"
    input:
        finals=per_region("results/training/{model}/{region}/final.nc"),
        code=script_imports("reconstruction_skill.py"),
    output:
        report(
            "results/reconstruction/{model}_skill.csv",
            caption="../report/reconstruction_skill.rst",
            category="Reconstruction",
            subcategory="{model}",
        ),
    log:
        "logs/reconstruction_skill/{model}.log",
    benchmark:
        "benchmarks/reconstruction_skill/{model}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/reconstruction_skill.py"
