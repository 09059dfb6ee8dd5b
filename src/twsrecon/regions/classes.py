"""The 28 GR*Ai*CE regions (Beck et al. 2018 Köppen–Geiger classes): codes and names, the predictors and
model types, the neighbours a small class falls back to, and the status codes of a cell."""

from __future__ import annotations

BECK_CODES = {
    1: "Af", 2: "Am", 3: "Aw", 4: "BWh", 5: "BWk", 6: "BSh", 7: "BSk", 8: "Csa", 9: "Csb", 10: "Csc",
    11: "Cwa", 12: "Cwb", 13: "Cwc", 14: "Cfa", 15: "Cfb", 16: "Cfc", 17: "Dsa", 18: "Dsb", 19: "Dsc",
    20: "Dsd", 21: "Dwa", 22: "Dwb", 23: "Dwc", 24: "Dwd", 25: "Dfa", 26: "Dfb", 27: "Dfc", 28: "Dfd",
    29: "ET", 30: "EF",
}

# Region names exactly as the GR*Ai*CE authors wrote them (their study files use these prefixes).
CLASS_NAMES = {
    1: "tropical_rainforest", 2: "tropical_monsoon", 3: "tropical_savannah", 4: "arid_deserthot",
    5: "arid_desertcold", 6: "arid_steppehot", 7: "arid_steppecold", 8: "temperate_dryhotsummer",
    9: "temperate_drywarmsummer", 10: "temperate_drycoldsummer", 11: "temperate_drywinhotsum",
    12: "temperate_drywinwarmsum", 13: "temperate_drywincoldsum", 14: "temperate_nodryhotsum",
    15: "temperate_nodrywarmsum", 16: "temperate_nodrycoldsum", 17: "continental_dryhotsummer",
    18: "continental_drywarmsummer", 19: "continental_drycoldsummer", 20: "continental_drysumverycoldwin",
    21: "continental_drywinhotsum", 22: "continental_drywinwarmsum", 23: "continental_drywincoldsum",
    24: "continental_drywinverycoldwin", 25: "continental_nodryhotsum", 26: "continental_nodrywarmsum",
    27: "continental_nodrycoldsum", 28: "continental_nodryverycoldwin", 29: "polar_tundra", 30: "polar_frost",
}

# Csc (10) and Cwc (13) had no usable cells in GR*Ai*CE: 28 regions remain.
EXCLUDED_CLASSES = (10, 13)
REGIONS = {name: cls for cls, name in CLASS_NAMES.items() if cls not in EXCLUDED_CLASSES}

PREDICTORS = ("pcp", "tmp", "snow", "rad", "rh", "sif")
METEO = tuple(p for p in PREDICTORS if p != "sif")
# Mo et al.'s derived water-balance predictors (data/derived.py), in a region dataset where the cube has
# their fields; GR*Ai*CE never used them. The CWSC as its departure from its mean rate (cwsc_dev): the drift of
# the plain sum takes it out of the fitted range before GRACE (docs/method.md).
WATER_BALANCE = ("cwsc_dev", "model_twsa")

# Every model type and its predictors; every list of model types is this one. First the authors' four, in
# their order and exactly as published; then the water-balance types ("wb": the noSIF predictors plus the CWSC
# without its drift and the land model's storage), which have no published study and are always tuned.
MODEL_PREDICTORS = {
    "LSTM": PREDICTORS, "BiLSTM": PREDICTORS, "LSTMnoSIF": METEO, "BiLSTMnoSIF": METEO,
    "LSTMwb": METEO + WATER_BALANCE, "BiLSTMwb": METEO + WATER_BALANCE,
}
MODEL_TYPES = tuple(MODEL_PREDICTORS)
PUBLISHED_MODEL_TYPES = MODEL_TYPES[:4]


def predictors_of(model_types) -> tuple[str, ...]:
    """The predictors a list of model types uses together, in the table's order."""
    used = {p for m in model_types for p in MODEL_PREDICTORS[m]}
    return tuple(p for p in (*PREDICTORS, *WATER_BALANCE) if p in used)


def uses_sif(model_type: str) -> bool:
    """The SIF models (LSTM, BiLSTM) use `sif`; the others leave it out (and keep cells without SIF)."""
    return "sif" in MODEL_PREDICTORS[model_type]


def uses_water_balance(model_type: str) -> bool:
    return any(p in WATER_BALANCE for p in MODEL_PREDICTORS[model_type])

# Where the cells of a class with too few usable cells go (regions.fallback): the nearest climates, nearest
# first. Same main group and precipitation type first (the adjacent summer/winter temperature, the warmer
# side first: Csb -> Csa, Dwb -> Dwa), then the same temperature with another precipitation regime, then
# the neighbouring main group (EF -> ET -> Dfc). A cell joins the first listed region that is in
# regions.include and has at least regions.min_cells usable cells of its own; there is no chaining.
# Csc and Cwc are not GR*Ai*CE regions: with the fallback on, their cells always join a neighbour.
FALLBACK_NEIGHBOURS = {
    "Af": ("Am", "Aw"), "Am": ("Af", "Aw"), "Aw": ("Am", "Af", "BSh", "Cwa"),
    "BWh": ("BWk", "BSh", "BSk"), "BWk": ("BWh", "BSk", "BSh"),
    "BSh": ("BSk", "BWh", "Aw", "BWk"), "BSk": ("BSh", "BWk", "BWh", "Dsb"),
    "Csa": ("Csb", "Csc", "Cfa", "BSk"), "Csb": ("Csa", "Csc", "Cfb"), "Csc": ("Csb", "Csa", "Cfc", "Cfb"),
    "Cwa": ("Cwb", "Cwc", "Cfa", "Aw"), "Cwb": ("Cwa", "Cwc", "Cfb"), "Cwc": ("Cwb", "Cwa", "Cfc", "Dwc"),
    "Cfa": ("Cfb", "Cfc", "Cwa", "Csa"), "Cfb": ("Cfa", "Cfc", "Cwb", "Csb"), "Cfc": ("Cfb", "Cfa", "Dfc"),
    "Dsa": ("Dsb", "Dsc", "Dfa", "Csa"), "Dsb": ("Dsa", "Dsc", "Dfb"), "Dsc": ("Dsb", "Dsd", "Dfc"),
    "Dsd": ("Dsc", "Dsb", "Dfd"),
    "Dwa": ("Dwb", "Dwc", "Dfa", "Cwa"), "Dwb": ("Dwa", "Dwc", "Dfb"), "Dwc": ("Dwb", "Dwd", "Dfc"),
    "Dwd": ("Dwc", "Dwb", "Dfd"),
    "Dfa": ("Dfb", "Dfc", "Dwa", "Cfa"), "Dfb": ("Dfa", "Dfc", "Dwb"), "Dfc": ("Dfb", "Dfd", "Dwc", "ET"),
    "Dfd": ("Dfc", "Dwd", "ET"),
    "ET": ("EF", "Dfc", "Dfd"), "EF": ("ET", "Dfd", "Dfc"),
}
_CLASS_OF_CODE = {code: cls for cls, code in BECK_CODES.items()}
NEIGHBOURS = {_CLASS_OF_CODE[c]: tuple(_CLASS_OF_CODE[n] for n in ns) for c, ns in FALLBACK_NEIGHBOURS.items()}

# Why a cell has no reconstruction (the `cell_status` flag of the product); 0: it has one.
STATUS = ("reconstructed", "not_land", "missing_predictor", "no_grace", "class_too_small", "class_not_included",
          "no_sif", "not_fitted")
USABLE, NOT_LAND, MISSING_PREDICTOR, NO_GRACE, CLASS_TOO_SMALL, CLASS_NOT_INCLUDED, NO_SIF, NOT_FITTED = range(8)


def class_of(region: str) -> int:
    try:
        return REGIONS[region]
    except KeyError:
        raise KeyError(f"unknown region {region!r}; known: {', '.join(REGIONS)}") from None


def region_of(cls: int) -> str | None:
    """The GR*Ai*CE region of a class (None for Csc, Cwc and no class)."""
    return CLASS_NAMES.get(int(cls)) if int(cls) in REGIONS.values() else None


def related_classes(cls: int) -> set[int]:
    """The classes whose usable cell counts decide which cells train in the region of `cls`: its own,
    its neighbours (where its cells go when it is small) and every class that lists it as a neighbour
    (with their neighbours, which come first for them)."""
    out = {cls, *NEIGHBOURS.get(cls, ())}
    for src, ns in NEIGHBOURS.items():
        if cls in ns:
            out |= {src, *ns}
    return out
