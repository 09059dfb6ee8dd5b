# Config validation, paths and input functions shared by every rule file.

from twsrecon.config import validate
from twsrecon.evaluation import BASELINES, TRUTH_PERIODS
from twsrecon.regions import REGIONS as ALL_REGIONS


validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")

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


def package_modules(*names):
    """Package modules a rule's result depends on: editing one reruns the rule (Snakemake does not track imports)."""
    return [str(SRC / "twsrecon" / f"{name}.py") for name in names]


def input_mb(wildcards, input):
    return max(1, int(sum(os.path.getsize(f) for f in input if os.path.exists(f)) / 2**20))


MODELS = list(config["models"]["types"])
GAPFILL = config["gapfill"]
PREDICTOR_SETS = list(GAPFILL["predictor_sets"])
HAS_GAP_PRODUCT = GAPFILL["enabled"] and "production" in GAPFILL["experiments"]  # results/gapfill/bcnn.nc
CHUNKS = list(range(config["models"]["chunks"]))


wildcard_constraints:
    model="|".join(["LSTM", "BiLSTM", "LSTMnoSIF", "BiLSTMnoSIF"]),
    chunk=r"\d+",


def hp_settings(region):
    """Hyperparameter settings of one region: the global ones with the region's overrides on top."""
    hp = config["hyperparameters"]
    base = {k: v for k, v in hp.items() if k != "regions"}
    return base | hp["regions"].get(region, {})


def published_studies(wildcards):
    """The published study files a region's hyperparameters come from (inputs, so a change reruns)."""
    from twsrecon.hyperparameters import published_study_path

    s = hp_settings(wildcards.region)
    if s["source"] != "published":
        return []
    main = published_study_path(s["published_dir"], wildcards.region, wildcards.model)
    lr = published_study_path(s["published_dir"], wildcards.region, wildcards.model, lr=True)
    if not main.exists() and s["fallback_to_tune"]:
        return []  # the job tunes instead, and says so in its log
    return [str(main)] + ([str(lr)] if lr.exists() else [])


SPLIT_GRID = "results/split/split.nc"


def split_history():
    """Months at the start of the cube never flagged: the largest window of the search space must fit."""
    window = max(config["hyperparameters"]["search_space"]["window"])
    return window - 1 if config["models"]["include_current_month"] else window


def training_settings():
    """Settings every training job shares (seed included, so the same config gives the same numbers)."""
    return config["models"] | {"seed": config["seed"]}


def gapfill_targets():
    if not GAPFILL["enabled"]:
        return []
    fits = expand("results/gapfill/{experiment}/{predictors}/summary.csv", experiment=GAPFILL["experiments"],
                  predictors=PREDICTOR_SETS)
    return fits + (["results/gapfill/bcnn.nc"] if HAS_GAP_PRODUCT else [])


# --- evaluation ---

EVAL = config["evaluation"]
EXTERNAL = list(EVAL["external"])
# A BCNN product needs held-out GRACE months (evaluation fit) or a truth (demo) to be scored on.
BCNN_PRODUCTS = [f"BCNN_{s}" for s in PREDICTOR_SETS] if GAPFILL["enabled"] and (
    "evaluation" in GAPFILL["experiments"] or DEMO) else []
PRODUCTS = MODELS + BCNN_PRODUCTS + list(BASELINES) + EXTERNAL
FIGURE_PERIODS = ["test"] + (list(TRUTH_PERIODS) if DEMO else [])
TIMESERIES_REGIONS = [r for r in EVAL["timeseries_regions"] if r in REGIONS]


def product_inputs(wildcards):
    """What one product is made of; GRACE (the cube) and, on the demo, the truth come with every product.
    Every product but the BCNN is scored on the stored split (SPLIT_GRID): the same months for all."""
    p = wildcards.product
    if p in BCNN_PRODUCTS:
        s = p.removeprefix("BCNN_")
        return {e: f"results/gapfill/{e}/{s}/bcnn.nc" for e in GAPFILL["experiments"]}
    out = {"split": SPLIT_GRID}
    if p in MODELS:
        out["reconstruction"] = f"results/reconstruction/{p}.nc"
        if HAS_GAP_PRODUCT:
            out["gap_product"] = "results/gapfill/bcnn.nc"
    elif p in EXTERNAL:
        out["external"] = f"results/evaluation/external/{p}.nc"
    return out


def product_kind(product):
    if product in MODELS:
        return "reconstruction"
    if product in BCNN_PRODUCTS:
        return "bcnn"
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
        *expand("results/evaluation/figures/timeseries_{region}.png", region=TIMESERIES_REGIONS),
        *expand("results/evaluation/external/{external}_vs_products.csv", external=EXTERNAL),
    ]
    if HAS_GAP_PRODUCT:
        out += ["results/evaluation/figures/gap_mean_std.png", "results/evaluation/figures/gap_trend.png"]
    return out
