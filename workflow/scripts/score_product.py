"""Per-cell skill of one product on every period it can be scored on (see twsrecon.evaluation)."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from twsrecon import evaluation as ev  # noqa: E402
from twsrecon.periods import GAP, in_periods  # noqa: E402
from twsrecon.io import write_netcdf  # noqa: E402

product, kind, inp = snakemake.wildcards.product, snakemake.params.kind, snakemake.input


def load(path, *names):
    """The variables `names` of one file, read once."""
    with xr.open_dataset(path) as ds:
        return ds[list(names)].load()


def field(path, name):
    return load(path, name)[name]


cube = load(inp.cube, "twsa", "lat_bnds", "lon_bnds", "crs")
grace = cube["twsa"]
coords = cube[["lat_bnds", "lon_bnds", "crs"]].drop_attrs(deep=False)
time = pd.DatetimeIndex(grace["time"].values)
truth = ev.on_time(field(inp.truth, "twsa"), time) if inp.truth else None

split, design = None, ""
if kind != "bcnn":  # one stored split for every reconstruction, baseline and external product
    stored = load(inp.split, "split")
    split = ev.split_on(stored["split"], time)
    design = ev.split_design(stored.attrs)
if kind == "reconstruction":
    sim = field(inp.reconstruction, "twsa")
    sims = dict.fromkeys([*ev.GRACE_PERIODS, *ev.TRUTH_PERIODS], sim)
    description = f"GR*Ai*CE {product} reconstruction"
elif kind == "bcnn":
    sims = {}
    if "evaluation" in inp.keys():
        evaluation = field(inp.evaluation, "twsa_bcnn")
        split = ev.bcnn_split(pd.DatetimeIndex(evaluation["time"].values), ev.on_time(grace, evaluation["time"].values))
        split = ev.on_time(split, time, fill=0).astype("int8")
        sims.update(dict.fromkeys(ev.GRACE_PERIODS, evaluation))
        design = ev.BCNN_DESIGN
    if "production" in inp.keys():
        sims.update(dict.fromkeys(ev.TRUTH_PERIODS, field(inp.production, "twsa_bcnn")))
    description = (f"BCNN mean with predictors {product.removeprefix('BCNN_')}: evaluation fit on its test "
                   "period against GRACE, production fit against the truth")
else:
    if kind == "baseline":
        sim = ev.baselines(grace, split)[product]
        description = f"{product} baseline fit on the training months of the stored split"
    else:
        sim = field(inp.external, "twsa")
        description = f"external product {product}, regridded to the analysis grid"
    sims = dict.fromkeys([*ev.GRACE_PERIODS, *ev.TRUTH_PERIODS], sim)

refs, masks = {}, {}
if split is not None:
    for period, flag in ev.GRACE_PERIODS.items():
        refs[period], masks[period] = grace, split == flag
    if kind != "bcnn" and snakemake.params.holdout:  # how skill holds on one contiguous block
        sims["holdout"] = sims["test"]
        refs["holdout"], masks["holdout"] = grace, ev.holdout_mask(split, snakemake.params.holdout)
if truth is not None:
    for period, mask in ev.truth_masks(time).items():
        refs[period], masks[period] = truth, mask
if kind == "reconstruction" and "gap_product" in inp.keys():
    bcnn = field(inp.gap_product, "twsa")
    refs[ev.AGREEMENT_PERIOD] = bcnn
    masks[ev.AGREEMENT_PERIOD] = xr.DataArray(in_periods(pd.DatetimeIndex(bcnn["time"].values), [GAP]), dims="time",
                                              coords={"time": bcnn["time"]})
    sims[ev.AGREEMENT_PERIOD] = sims["test"]

scores = ev.score_periods(sims, refs, masks)
for period in scores["period"].values:
    s = scores.sel(period=period)
    log.info("%s %-12s cells %5d  median r %.3f  nse %.3f", product, period, int(s["r"].notnull().sum()),
             float(s["r"].median()), float(s["nse"].median()))
write_netcdf(ev.score_dataset(scores, coords, product, description, design), snakemake.output[0],
             {"product": product, "kind": kind})
