# BCNN gap filling of the GRACE/GRACE-FO record (Mo et al. 2022).


wildcard_constraints:
    experiment="evaluation|production",
    predictors="|".join(PREDICTOR_SETS),


localrules:
    gapfill_product,


rule bcnn:
    message:
        "BCNN {wildcards.experiment} fit with predictors {wildcards.predictors}"
    input:
        unpack(bcnn_split),
        cube=CUBE,
        classes=KOPPEN_CLASSES,
        code=script_imports("bcnn.py"),
    output:
        product="results/gapfill/{experiment}/{predictors}/bcnn.nc",
        scores="results/gapfill/{experiment}/{predictors}/scores.nc",
        summary="results/gapfill/{experiment}/{predictors}/summary.csv",
        weights="results/gapfill/{experiment}/{predictors}/weights.safetensors",
    params:
        settings=lambda wc: bcnn_settings(wc.predictors),
        predictors=lambda wc: config["gapfill"]["predictor_sets"][wc.predictors],
        seed=config["seed"],
    log:
        "logs/bcnn/{experiment}/{predictors}.log",
    benchmark:
        "benchmarks/bcnn/{experiment}/{predictors}.tsv"
    conda:
        torch_env(config["gapfill"]["device"])
    threads: config["gapfill"]["threads"]
    resources:
        mem_mb=lambda wc, input: 4000 + 10 * input_mb(wc, input),
        device=config["gapfill"]["device"],  # not a param: where a job runs does not change its result
        # memory savers that give the same numbers (tested): not params either; 0 = all particles at once
        particle_group=config["gapfill"]["particle_group"] or 0,
        checkpoint=int(config["gapfill"]["checkpoint"]),
    script:
        "../scripts/bcnn.py"


rule gapfill_product:
    message:
        "The gap-filled record: production fit with predictors {params.predictors}"
    input:
        f"results/gapfill/production/{config['gapfill']['product_predictors']}/bcnn.nc",
    output:
        GAP_PRODUCT,
    params:
        predictors=config["gapfill"]["product_predictors"],
    log:
        "logs/gapfill_product.log",
    benchmark:
        "benchmarks/gapfill_product.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "cp {input} {output} 2> {log}"
