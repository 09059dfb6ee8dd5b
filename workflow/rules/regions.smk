# Köppen–Geiger classes on the analysis grid and the cells of each GR*Ai*CE region.


localrules:
    koppen_classes,
    region_summary,
    split,
    gridded_split,


rule koppen_classes:
    message:
        "Köppen–Geiger class of each analysis cell (majority by area)"
    input:
        koppen=input_file("koppen"),
        code=script_imports("koppen_classes.py"),
    output:
        KOPPEN_CLASSES,
    params:
        grid=config["grid"],
        format="beck_geotiff" if DEMO else config["inputs"]["koppen"]["format"],
        min_land_fraction=config["regions"]["min_land_fraction"],
    log:
        "logs/koppen_classes.log",
    benchmark:
        "benchmarks/koppen_classes.tsv"
    conda:
        "../../envs/data.yaml"
    priority: 50  # data preparation first: bad input surfaces before any training
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../scripts/koppen_classes.py"


rule region_cells:
    message:
        "Cells of region {wildcards.region}"
    input:
        cube=CUBE,
        classes=KOPPEN_CLASSES,
        code=script_imports("region_cells.py"),
    output:
        "results/regions/{region}.nc",
    params:
        min_cells=config["regions"]["min_cells"],
        include=REGIONS,
        fallback=config["regions"]["fallback"],
    log:
        "logs/region_cells/{region}.log",
    benchmark:
        "benchmarks/region_cells/{region}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: 50  # data preparation first: bad input surfaces before any training
    threads: 1
    resources:
        mem_mb=lambda wc, input: 1000 + input_mb(wc, input) * 2,
    script:
        "../scripts/region_cells.py"


# A checkpoint: the regions it marks included are the only ones the modelling chain plans jobs for
# (common.smk: trained_regions); it also checks evaluation.timeseries_regions against the cells.
checkpoint region_summary:
    message:
        "Table of cells per region"
    input:
        regions=expand("results/regions/{region}.nc", region=REGIONS),
        code=script_imports("region_summary.py"),
    output:
        report(
            REGION_SUMMARY,
            caption="../report/region_summary.rst",
            category="Data",
            subcategory="Regions",
        ),
    params:
        timeseries_regions=EVAL["timeseries_regions"] if EVAL["enabled"] else [],
    log:
        "logs/region_summary.log",
    benchmark:
        "benchmarks/region_summary.tsv"
    conda:
        "../../envs/data.yaml"
    priority: 50  # data preparation first: bad input surfaces before any training
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/region_summary.py"


rule split:
    message:
        "Train/validation/test split of every cell of {wildcards.region}, drawn once"
    input:
        region="results/regions/{region}.nc",
        code=script_imports("split.py"),
    output:
        "results/split/{region}.nc",
    params:
        split=config["split"],
        seed=config["seed"],
        history=split_history(),
    log:
        "logs/split/{region}.log",
    benchmark:
        "benchmarks/split/{region}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: 50
    threads: 1
    resources:
        mem_mb=lambda wc, input: 1000 + input_mb(wc, input),
    script:
        "../scripts/split.py"


rule gridded_split:
    message:
        "The split of every cell on the analysis grid (shared by every product's scores)"
    input:
        splits=per_region("results/split/{region}.nc"),
        cube=CUBE,
        code=script_imports("gridded_split.py"),
    output:
        SPLIT_GRID,
    log:
        "logs/split/gridded_split.log",
    benchmark:
        "benchmarks/split/gridded_split.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 1000 + 4 * input_mb(wc, input),
    script:
        "../scripts/gridded_split.py"
