# Inputs: the embedded demo world, and the analysis-ready cube built from the providers' files.


localrules:
    demo_world,


rule demo_world:
    message:
        "Generating the synthetic demo world (seed {params.demo[seed]}) in the providers' file formats"
    output:
        era5=DEMO_FILES["era5"],
        grace=DEMO_FILES["grace"],
        sif=DEMO_FILES["sif"],
        koppen=DEMO_FILES["koppen"],
        truth=DEMO_FILES["truth"],
    input:
        code=script_imports("demo_world.py"),
    params:
        demo=config["demo"],
        period=config["period"],
        grid=config["grid"],
    log:
        "logs/demo_world.log",
    benchmark:
        "benchmarks/demo_world.tsv"
    conda:
        "../../envs/data.yaml"
    priority: 50  # data preparation first: bad input surfaces before any training
    threads: 1
    resources:
        mem_mb=3000,
    script:
        "../scripts/demo_world.py"


rule prepare_cube:
    message:
        "Building the analysis-ready cube: all predictors and TWSA on the {params.grid[resolution]} deg grid"
    input:
        unpack(grace_aux_files),
        grace=input_file("grace"),
        era5=input_file("era5"),
        sif=input_file("sif"),
        code=script_imports("prepare_cube.py"),
    output:
        CUBE,
    params:
        grid=config["grid"],
        period=config["period"],
        prepare=config["prepare"],
        grace={k: v for k, v in config["inputs"]["grace"].items() if k != "path"} | (
            {"apply_scale_factor": True} if DEMO else {}
        ),
        sif_variable=None if DEMO else config["inputs"]["sif"]["variable"],
    log:
        "logs/prepare_cube.log",
    benchmark:
        "benchmarks/prepare_cube.tsv"
    conda:
        "../../envs/data.yaml"
    priority: 50  # data preparation first: bad input surfaces before any training
    threads: 2
    resources:
        # dask holds a few time chunks of one source field per thread: a fraction of the input size.
        mem_mb=lambda wc, input, threads: 2000 + threads * min(16000, input_mb(wc, input) // 4),
        runtime=lambda wc, input: 30 + input_mb(wc, input) // 200,
    script:
        "../scripts/prepare_cube.py"
