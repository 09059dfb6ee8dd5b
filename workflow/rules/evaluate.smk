# Evaluation: per-cell scores of every product, aggregated per region and aridity class; figures.


wildcard_constraints:
    product="|".join(PRODUCTS),
    external="|".join(EXTERNAL) or "no_external_product",
    metric="r|nse",
    period="|".join(["test", *TRUTH_PERIODS]),
    grouping="region|aridity",


localrules:
    evaluation_tables,
    skill_table,
    score_maps,
    score_boxplots,
    timeseries_figure,
    gap_figures,
    summary_figure,


rule aridity:
    message:
        "Aridity index P/PET and classes ({params.aridity[source]})"
    input:
        cube=CUBE,
        map=[EVAL["aridity"]["path"]] if EVAL["aridity"]["source"] == "map" else [],
        code=script_imports("aridity.py"),
    output:
        ARIDITY,
    params:
        aridity=EVAL["aridity"],
        grid=config["grid"],
    log:
        "logs/evaluation/aridity.log",
    benchmark:
        "benchmarks/evaluation/aridity.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 2 * input_mb(wc, input),
    script:
        "../scripts/aridity.py"


rule external_product:
    message:
        "Regridding the external TWSA product {wildcards.external} to the analysis grid"
    input:
        lambda wc: EVAL["external"][wc.external]["path"],
        code=script_imports("external_product.py"),
    output:
        "results/evaluation/external/{external}.nc",
    params:
        settings=lambda wc: EVAL["external"][wc.external],
        grid=config["grid"],
    log:
        "logs/evaluation/external_{external}.log",
    benchmark:
        "benchmarks/evaluation/external_{external}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, input),
    script:
        "../scripts/external_product.py"


rule ensemble:
    message:
        "Skill-weighted ensemble of the reconstructions and BCNN gap fills"
    input:
        cube=CUBE,
        split=SPLIT_GRID,
        reconstructions=expand("results/reconstruction/{model}.nc", model=MODELS),
        evaluation=list(ensemble_bcnn("evaluation").values()),
        production=list(ensemble_bcnn("production").values()),
        code=script_imports("ensemble.py"),
    output:
        ENSEMBLE_FILE,
    params:
        models=MODELS,
        predictor_sets=list(ensemble_bcnn("production")),
        min_months=EVAL["ensemble_min_months"],
    log:
        "logs/evaluation/ensemble.log",
    benchmark:
        "benchmarks/evaluation/ensemble.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 6 * input_mb(wc, input),
    script:
        "../scripts/ensemble.py"


rule score_product:
    message:
        "Per-cell skill of {wildcards.product} on every period"
    input:
        unpack(product_inputs),
        cube=CUBE,
        truth=DEMO_FILES["truth"] if DEMO else [],
        code=script_imports("score_product.py"),
    output:
        "results/evaluation/scores/{product}.nc",
    params:
        kind=lambda wc: product_kind(wc.product),
        holdout=config["split"]["holdout"],
    log:
        "logs/evaluation/score_{product}.log",
    benchmark:
        "benchmarks/evaluation/score_{product}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, input),
    script:
        "../scripts/score_product.py"


rule evaluation_tables:
    message:
        "Median skill per region and aridity class, product comparisons"
    input:
        scores=expand("results/evaluation/scores/{product}.nc", product=PRODUCTS),
        aridity=ARIDITY,
        koppen=KOPPEN_CLASSES,
        code=script_imports("evaluation_tables.py"),
    output:
        by_region=report("results/evaluation/by_region.csv", caption="../report/by_region.rst",
                         category="Evaluation", subcategory="Tables"),
        by_aridity=report("results/evaluation/by_aridity.csv", caption="../report/by_aridity.rst",
                          category="Evaluation", subcategory="Tables"),
        comparisons=report("results/evaluation/comparisons.csv", caption="../report/comparisons.rst",
                           category="Evaluation", subcategory="Tables"),
        scored_months=report("results/evaluation/scored_months.csv", caption="../report/scored_months.rst",
                             category="Evaluation", subcategory="Tables"),
    log:
        "logs/evaluation/tables.log",
    benchmark:
        "benchmarks/evaluation/tables.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, input),
    script:
        "../scripts/evaluation_tables.py"


rule skill_table:
    message:
        "The skill benchmark: every product against the demo world's true TWSA, per aridity class"
    input:
        scores=expand("results/evaluation/scores/{product}.nc", product=PRODUCTS),
        aridity=ARIDITY,
        code=script_imports("skill_table.py"),
    output:
        report("results/evaluation/skill_table.csv", caption="../report/skill_table.rst", category="Evaluation",
               subcategory="Tables"),
    log:
        "logs/evaluation/skill_table.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, input),
    script:
        "../scripts/skill_table.py"


rule compare_external:
    message:
        "External product {wildcards.external} against each of our products, per region"
    input:
        external="results/evaluation/external/{external}.nc",
        reconstructions=expand("results/reconstruction/{model}.nc", model=MODELS),
        gap_product=[GAP_PRODUCT] if HAS_GAP_PRODUCT else [],
        cube=CUBE,
        koppen=KOPPEN_CLASSES,
        code=script_imports("compare_external.py"),
    output:
        report("results/evaluation/external/{external}_vs_products.csv", caption="../report/external.rst",
               category="Evaluation", subcategory="External products"),
    log:
        "logs/evaluation/compare_{external}.log",
    benchmark:
        "benchmarks/evaluation/compare_{external}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, input),
    script:
        "../scripts/compare_external.py"


rule gap_trend:
    message:
        "Trend effect of the gap: linear trends with the gap open and filled"
    input:
        cube=CUBE,
        gap_product=GAP_PRODUCT,
        code=script_imports("gap_trend.py"),
    output:
        GAP_TREND,
    log:
        "logs/evaluation/gap_trend.log",
    benchmark:
        "benchmarks/evaluation/gap_trend.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 4 * input_mb(wc, input),
    script:
        "../scripts/gap_trend.py"


rule score_maps:
    message:
        "Maps of {wildcards.metric} per product ({wildcards.period})"
    input:
        scores=expand("results/evaluation/scores/{product}.nc", product=PRODUCTS),
        code=script_imports("score_maps.py"),
    output:
        report("results/evaluation/figures/maps_{metric}_{period}.png", caption="../report/score_maps.rst",
               category="Evaluation", subcategory="Maps"),
    params:
        coastlines=not DEMO,
    log:
        "logs/evaluation/maps_{metric}_{period}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/score_maps.py"


rule score_boxplots:
    message:
        "Boxplots of PCC and NSE per {wildcards.grouping} ({wildcards.period})"
    input:
        scores=expand("results/evaluation/scores/{product}.nc", product=PRODUCTS),
        aridity=ARIDITY,
        koppen=KOPPEN_CLASSES,
        code=script_imports("score_boxplots.py"),
    output:
        report("results/evaluation/figures/boxplot_{grouping}_{period}.png", caption="../report/boxplots.rst",
               category="Evaluation", subcategory="Boxplots"),
    log:
        "logs/evaluation/boxplot_{grouping}_{period}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/score_boxplots.py"


rule timeseries_figure:
    message:
        "Regional mean TWSA of every product in {wildcards.region}"
    input:
        cube=CUBE,
        koppen=KOPPEN_CLASSES,
        reconstructions=expand("results/reconstruction/{model}.nc", model=MODELS),
        gap_product=[GAP_PRODUCT] if HAS_GAP_PRODUCT else [],
        truth=DEMO_FILES["truth"] if DEMO else [],
        code=script_imports("timeseries_figure.py"),
    output:
        report("results/evaluation/figures/timeseries_{region}.png", caption="../report/timeseries.rst",
               category="Evaluation", subcategory="Time series"),
    log:
        "logs/evaluation/timeseries_{region}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 2 * input_mb(wc, input),
    script:
        "../scripts/timeseries_figure.py"


rule gap_figures:
    message:
        "Maps of the BCNN gap-month mean and standard deviation, and of the trend effect of the gap"
    input:
        gap_product=GAP_PRODUCT,
        trend=GAP_TREND,
        code=script_imports("gap_figures.py"),
    output:
        gap=report("results/evaluation/figures/gap_mean_std.png", caption="../report/gap_mean_std.rst",
                   category="Gap filling", subcategory="Maps"),
        trend=report("results/evaluation/figures/gap_trend.png", caption="../report/gap_trend.rst",
                     category="Gap filling", subcategory="Maps"),
    params:
        coastlines=not DEMO,
    log:
        "logs/evaluation/gap_figures.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 2000 + 2 * input_mb(wc, input),
    script:
        "../scripts/gap_figures.py"


rule summary_figure:
    message:
        "The report's first screen: median skill, the gap-fill map, one regional time series"
    input:
        scores=expand("results/evaluation/scores/{product}.nc", product=PRODUCTS),
        cube=CUBE,
        koppen=KOPPEN_CLASSES,
        reconstructions=expand("results/reconstruction/{model}.nc", model=MODELS),
        gap_product=GAP_PRODUCT,
        truth=DEMO_FILES["truth"] if DEMO else [],
        summary=REGION_SUMMARY,  # the checkpoint that picks the time-series region (params below)
        code=script_imports("summary_figure.py"),
    output:
        report("results/evaluation/figures/summary.png", caption="../report/summary.rst", category="Summary"),
    params:
        region=lambda wc: timeseries_regions()[0],  # the first time-series region
        periods=FIGURE_PERIODS,
        coastlines=not DEMO,
    log:
        "logs/evaluation/summary_figure.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 3000 + 2 * input_mb(wc, input),
    script:
        "../scripts/summary_figure.py"
