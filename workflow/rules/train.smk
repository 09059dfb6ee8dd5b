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
        code=package_modules("models", "training", "features", "reconstruction"),
    output:
        chunk="results/training/{model}/{region}/chunk{chunk}.nc",
        weights="results/training/{model}/{region}/chunk{chunk}.safetensors",
    params:
        training=training_settings(),
        n_chunks=config["models"]["chunks"],
    log:
        "logs/train_chunk/{model}/{region}/chunk{chunk}.log",
    benchmark:
        "benchmarks/train_chunk/{model}/{region}/chunk{chunk}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 20 * input_mb(wc, input),
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
        code=package_modules("tuning", "models", "training", "features", "reconstruction"),
    output:
        final="results/training/{model}/{region}/final.nc",
        low_pcc="results/training/{model}/{region}/low_pcc.csv",
        weights="results/training/{model}/{region}/retrained.safetensors",
    params:
        settings=lambda wc: hp_settings(wc.region),
        training=training_settings(),
        study="results/optuna/{model}/{region}_LR.journal",
    log:
        "logs/retune_lr/{model}/{region}.log",
    benchmark:
        "benchmarks/retune_lr/{model}/{region}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 20 * input_mb(wc, input),
    script:
        "../scripts/retune_lr.py"


rule merge_reconstruction:
    message:
        "Gridded {wildcards.model} reconstruction"
    input:
        finals=expand("results/training/{{model}}/{region}/final.nc", region=REGIONS),
        split=SPLIT_GRID,
    output:
        "results/reconstruction/{model}.nc",
    params:
        predict_start=config["models"]["predict_start"],
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
        finals=expand("results/training/{{model}}/{region}/final.nc", region=REGIONS),
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
