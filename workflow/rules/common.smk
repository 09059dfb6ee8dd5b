# Config validation, paths and input functions shared by every rule file.

from twsrecon.config import check_inputs, validate
from twsrecon.evaluation.scores import BASELINES, TRUTH_PERIODS
from snakemake.exceptions import IncompleteCheckpointException
from twsrecon.regions.plan import N_TIMESERIES, pick_timeseries_regions, regions_to_train
from twsrecon.regions.classes import MODEL_PREDICTORS, MODEL_TYPES, PUBLISHED_MODEL_TYPES, REGIONS as ALL_REGIONS


validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
check_inputs(config)  # missing files and a grid outside the data, before any job

DEMO = config["demo"]["enabled"]
REGIONS = list(config["regions"]["include"])
DEMO_DIR = "resources/demo"
DEMO_FILES = {
    "era5": [
        f"{DEMO_DIR}/era5/data_stream-moda_stepType-avgua.nc",
        f"{DEMO_DIR}/era5/data_stream-moda_stepType-avgad.nc",
    ],
    "grace": f"{DEMO_DIR}/GRCTellus.JPL.200204_202112.GLO.RL06.3M.MSCNv04CRI.nc",
    "sif": f"{DEMO_DIR}/sif_monthly_0p5deg.nc",
    "koppen": f"{DEMO_DIR}/koppen_geiger_0p25.tif",
    "truth": f"{DEMO_DIR}/truth_twsa.nc",
}


wildcard_constraints:
    region="|".join(ALL_REGIONS),


def input_file(role):
    """Path of one input: the demo world's file, the download rule's output, or the user's file from `inputs`."""
    if DEMO:
        return DEMO_FILES[role]
    if config["inputs"][role]["source"] == "download":
        return DOWNLOAD_FILES[role]
    if role == "era5":
        return expand_era5_paths(config["inputs"]["era5"]["paths"])
    return config["inputs"][role]["path"]


def download_files():
    """Where the download rules put each input (`inputs.<role>.path` when given)."""
    from twsrecon.download.earthdata import mascon_filename
    from twsrecon.download.cds import STEP_FILES, years

    inputs = config["inputs"]
    res = inputs["koppen"]["resolution"]
    return {
        "grace": inputs["grace"].get("path") or f"resources/grace/{mascon_filename(inputs['grace']['version'])}",
        "era5": expand("resources/era5/{year}/{name}", year=years(config["period"]), name=STEP_FILES.values()),
        "sif": inputs["sif"].get("path") or "resources/sif/sif_monthly.nc",
        "koppen": inputs["koppen"].get("path") or f"resources/koppen/koppen_geiger_{res}.tif",
    }


DOWNLOAD_FILES = {} if DEMO else download_files()


def expand_era5_paths(patterns):
    """ERA5 paths may be globs (one file per year and step type is usual): expanded at parse time."""
    import glob

    out = []
    for pattern in patterns:
        hits = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        out.extend(hits or [pattern])
    return out


def grace_aux_files(wildcards):
    """Separate CLM4 scale-factor and land-mask files (mascon releases before v03)."""
    g = config["inputs"]["grace"]
    return {k: g[k] for k in ("scale_factor", "land_mask") if not DEMO and g.get(k)}


def script_imports(script):
    """The package modules a rule's script imports, directly or transitively (twsrecon.imports): declared as
    inputs, so editing a module reruns exactly the rules that run it (Snakemake does not follow imports)."""
    from twsrecon.imports import import_closure

    return import_closure(Path(workflow.basedir) / "workflow" / "scripts" / script, SRC)


def config_keys(section, *keys, **extra):
    """The params of a job: only the keys of `section` it uses (plus `extra`). Snakemake reruns a job whose
    params changed, so a whole section would rerun it for any key of the section (PyPSA-Eur's config provider).
    Keys that cannot change results (`device`) go to the rule's resources instead, which are not tracked."""
    values = config[section]
    return {k: values[k] for k in keys} | extra


def input_mb(wildcards, input):
    return max(1, int(sum(os.path.getsize(f) for f in input if os.path.exists(f)) / 2**20))


REGION_SUMMARY = "results/regions/summary.csv"


def region_summary():
    """The region summary (a checkpoint) once it is made, or None while only planning without one.

    A run builds the DAG below the checkpoint once the summary is written. A dry run or a DAG drawing
    never waits for it: it reads the summary already on disk (the regions it would train as things stand)
    or, in a fresh directory, plans every region of `regions.include` (an upper bound).
    """
    try:
        return checkpoints.region_summary.get().output[0]
    except IncompleteCheckpointException:
        if workflow.executor_plugin is None or workflow.dryrun:
            return REGION_SUMMARY if os.path.exists(REGION_SUMMARY) else None
        raise


def trained_regions():
    """The regions that train: those the region summary marks included. Every per-region `expand` of the
    modelling chain goes through here, so a region without enough cells costs no job."""
    summary = region_summary()
    return REGIONS if summary is None else regions_to_train(summary)


def per_region(pattern):
    """Input function: `pattern` expanded over the trained regions (other wildcards from the job's own)."""
    return lambda wildcards: expand(pattern, region=trained_regions(), **dict(wildcards.items()))


def timeseries_regions():
    """The regions with a time-series figure: `evaluation.timeseries_regions`, or the largest ones."""
    summary = region_summary()
    if summary is None:
        return EVAL["timeseries_regions"] or REGIONS[:N_TIMESERIES]
    return pick_timeseries_regions(summary, EVAL["timeseries_regions"], N_TIMESERIES)


MODELS = list(config["models"]["types"])
GAPFILL = config["gapfill"]
PREDICTOR_SETS = list(GAPFILL["predictor_sets"])
HAS_GAP_PRODUCT = GAPFILL["enabled"] and "production" in GAPFILL["experiments"]  # GAP_PRODUCT is made
CHUNKS = list(range(config["models"]["chunks"]))


wildcard_constraints:
    model="|".join(MODEL_TYPES),
    chunk=r"\d+",


def hp_settings(region):
    """Hyperparameter settings of one region: the global ones with the region's overrides on top."""
    hp = config["hyperparameters"]
    base = {k: v for k, v in hp.items() if k != "regions"}
    return base | hp["regions"].get(region, {})


def published_studies(wildcards):
    """The published study files a region's hyperparameters come from (inputs, so a change reruns)."""
    from twsrecon.reconstruction.hyperparameters import published_study_path

    s = hp_settings(wildcards.region)
    if s["source"] != "published" or wildcards.model not in PUBLISHED_MODEL_TYPES:
        return []
    main = published_study_path(s["published_dir"], wildcards.region, wildcards.model)
    lr = published_study_path(s["published_dir"], wildcards.region, wildcards.model, lr=True)
    if not main.exists() and s["fallback_to_tune"]:
        return []  # the job tunes instead, says so in its log, and fallback_report() counts it at DAG time
    return [str(main)] + ([str(lr)] if lr.exists() else [])


def tunes(wildcards):
    """Whether a hyperparameters job runs Optuna (and so wants a GPU): not when it reads a published study."""
    from twsrecon.reconstruction.hyperparameters import published_study_path

    s = hp_settings(wildcards.region)
    return s["source"] != "published" or wildcards.model not in PUBLISHED_MODEL_TYPES or not published_study_path(
        s["published_dir"], wildcards.region, wildcards.model).exists()


def fallback_report():
    """Say once, while the DAG is built (dry runs too), how many tuning jobs missing published studies add."""
    from twsrecon.reconstruction.hyperparameters import published_study_path

    missing = []
    for region in REGIONS:
        s = hp_settings(region)
        if s["source"] == "published" and s["fallback_to_tune"]:
            missing += [(region, model, s["trials"]) for model in MODELS if model in PUBLISHED_MODEL_TYPES
                        and not published_study_path(s["published_dir"], region, model).exists()]
    if missing:
        dirs = sorted({str(hp_settings(r)["published_dir"]) for r, _, _ in missing})
        print(f"WARNING hyperparameters: no published Optuna study for {len(missing)} of "
              f"{len(REGIONS) * len(MODELS)} region x model type pairs in {', '.join(dirs)}; "
              f"hyperparameters.fallback_to_tune is set, so they are tuned instead: {len(missing)} tuning jobs, "
              f"{sum(t for _, _, t in missing)} Optuna trials in all (the published studies: config/README.md). "
              f"First: {', '.join(f'{r}/{m}' for r, m, _ in missing[:4])}{' ...' if len(missing) > 4 else ''}",
              file=sys.stderr)


if workflow.is_main_process:  # not again in each job's own Snakemake
    fallback_report()


def torch_env(device):
    """The conda env of a torch rule: conda-forge's CUDA build of PyTorch where the config asks for cuda, else the CPU one."""
    return "../../envs/torch-gpu.yaml" if device == "cuda" else "../../envs/torch.yaml"


# Outputs that many rules read, named once (the rule that writes one uses the same name).
CUBE = "results/cube/cube.nc"
KOPPEN_CLASSES = "results/regions/koppen_classes.nc"
GAP_PRODUCT = "results/gapfill/bcnn.nc"
ARIDITY = "results/evaluation/aridity.nc"
GAP_TREND = "results/evaluation/gap_trend.nc"
SPLIT_GRID = "results/split/split.nc"


def split_history():
    """Months at the start of the cube never flagged: the largest window of the search space must fit."""
    from twsrecon.reconstruction.features import first_target_index

    window = max(config["hyperparameters"]["search_space"]["window"])
    return first_target_index(window, config["models"]["include_current_month"])


def training_settings(*keys):
    """The `models` keys a training rule uses, and the seed (the same config gives the same numbers)."""
    return config_keys("models", *keys, seed=config["seed"])


def tuning_settings(region, *keys):
    """The hyperparameter settings of one region (see hp_settings) that a rule uses."""
    s = hp_settings(region)
    return {k: s[k] for k in keys}


def bcnn_settings(predictor_set):
    """The gapfill keys a BCNN fit uses, with the predictor set's own overrides (gapfill.overrides) on top."""
    keys = config_keys("gapfill", "lags", "particles", "n_features", "epochs", "learning_rate", "batch_size",
                       "domain", "resolution", "ice_classes", "bf16", "target_scaling", "noise",
                       "latitude_weighting", "lr_schedule", "calibration", "calibration_months", "anchor",
                       "anchor_months")
    return keys | config["gapfill"]["overrides"].get(predictor_set, {})


def bcnn_split(wildcards):
    """The stored split, for a BCNN fit that holds months out to calibrate its interval (gapfill.calibration)."""
    return {"split": SPLIT_GRID} if bcnn_settings(wildcards.predictors)["calibration"] != "none" else {}


def ensemble_bcnn(experiment):
    """The BCNN fits the ensemble takes as members: every predictor set, when both experiments run."""
    both = GAPFILL["enabled"] and {"evaluation", "production"} <= set(GAPFILL["experiments"])
    return {s: f"results/gapfill/{experiment}/{s}/bcnn.nc" for s in PREDICTOR_SETS} if both else {}


def gapfill_targets():
    if not GAPFILL["enabled"]:
        return []
    fits = expand("results/gapfill/{experiment}/{predictors}/summary.csv", experiment=GAPFILL["experiments"],
                  predictors=PREDICTOR_SETS)
    return fits + ([GAP_PRODUCT] if HAS_GAP_PRODUCT else [])


# --- evaluation ---

EVAL = config["evaluation"]
EXTERNAL = list(EVAL["external"])
# A BCNN product needs held-out GRACE months (evaluation fit) or a truth (demo) to be scored on.
BCNN_PRODUCTS = [f"BCNN_{s}" for s in PREDICTOR_SETS] if GAPFILL["enabled"] and (
    "evaluation" in GAPFILL["experiments"] or DEMO) else []
ENSEMBLE_PRODUCTS = ["ensemble"] if EVAL["ensemble"] and len(MODELS) >= 2 else []
ENSEMBLE_FILE = "results/ensemble/ensemble.nc"
PRODUCTS = MODELS + ENSEMBLE_PRODUCTS + BCNN_PRODUCTS + list(BASELINES) + EXTERNAL
FIGURE_PERIODS = ["test"] + (list(TRUTH_PERIODS) if DEMO else [])


def check_plan_against_inputs():
    """Settings the input files cannot serve stop the run here, before any job: read from the files'
    metadata only (local inputs that exist; downloads ask for what the settings need)."""
    from twsrecon.regions.plan import check_external_overlap, check_predictor_sets

    era5 = [] if DEMO or config["inputs"]["era5"]["source"] == "download" else input_file("era5")
    if era5:
        if GAPFILL["enabled"]:
            check_predictor_sets(GAPFILL["predictor_sets"], era5)
        check_predictor_sets({m: MODEL_PREDICTORS[m] for m in MODELS}, era5, "models.types")
    for name, settings in EXTERNAL_SETTINGS.items():
        if os.path.exists(settings["path"]):
            check_external_overlap(name, settings, config["grid"])


EXTERNAL_SETTINGS = EVAL["external"] if EVAL["enabled"] else {}
if workflow.is_main_process:  # not again in every job's own process
    check_plan_against_inputs()


def product_inputs(wildcards):
    """What one product is made of; GRACE (the cube) and, on the demo, the truth come with every product.
    Every product but the BCNN is scored on the stored split (SPLIT_GRID): the same months for all."""
    p = wildcards.product
    if p in BCNN_PRODUCTS:
        s = p.removeprefix("BCNN_")
        return {"split": SPLIT_GRID} | {e: f"results/gapfill/{e}/{s}/bcnn.nc" for e in GAPFILL["experiments"]}
    out = {"split": SPLIT_GRID}
    if p in MODELS:
        out["reconstruction"] = f"results/reconstruction/{p}.nc"
        if HAS_GAP_PRODUCT:
            out["gap_product"] = GAP_PRODUCT
    elif p in ENSEMBLE_PRODUCTS:
        out["ensemble"] = ENSEMBLE_FILE
    elif p in EXTERNAL:
        out["external"] = f"results/evaluation/external/{p}.nc"
    return out


def product_kind(product):
    if product in MODELS:
        return "reconstruction"
    if product in BCNN_PRODUCTS:
        return "bcnn"
    if product in ENSEMBLE_PRODUCTS:
        return "ensemble"
    return "baseline" if product in BASELINES else "external"


def evaluation_targets():
    if not EVAL["enabled"]:
        return []
    out = [
        "results/evaluation/by_region.csv",
        *(["results/evaluation/skill_table.csv"] if DEMO else []),
        *expand("results/evaluation/figures/maps_{metric}_{period}.png", metric=["r", "nse"], period=FIGURE_PERIODS),
        *expand("results/evaluation/figures/boxplot_{grouping}_{period}.png", grouping=["region", "aridity"],
                period=FIGURE_PERIODS),
        lambda wildcards: expand("results/evaluation/figures/timeseries_{region}.png", region=timeseries_regions()),
        *expand("results/evaluation/external/{external}_vs_products.csv", external=EXTERNAL),
    ]
    if HAS_GAP_PRODUCT:
        out += ["results/evaluation/figures/gap_mean_std.png", "results/evaluation/figures/gap_trend.png"]
        out.append("results/evaluation/figures/summary.png")
    return out
