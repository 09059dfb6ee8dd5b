"""Fit the BCNN by SVGD for one experiment and predictor set; write the record, the scores and the weights."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from twsrecon.gapfill import GAP, fit_bcnn, in_periods, nse_against_truth, prepare_gapfill, product, score_test_months  # noqa: E402,E501
from twsrecon.io import atomic_output, write_csv, write_netcdf  # noqa: E402
from twsrecon.provenance import canonical_json  # noqa: E402
from twsrecon.device import resolve_device  # noqa: E402

exp, pset = snakemake.wildcards.experiment, snakemake.wildcards.predictors
s = snakemake.params.settings
config = {"gapfill": s, "experiment": exp, "predictors": snakemake.params.predictors, "seed": snakemake.params.seed}
torch.set_num_threads(snakemake.threads)
with xr.open_dataset(snakemake.input.cube) as cube:
    cube = cube.load()
    coords = cube[["lat_bnds", "lon_bnds", "crs"]].drop_attrs(deep=False)
data = prepare_gapfill(cube, snakemake.params.predictors, s["lags"], exp)
log.info("%s fit: %d training months, %d test months, %d input channels (%s)", exp, data.train.sum(),
         data.test.sum(), len(data.channels), ", ".join(data.channels))
device = resolve_device(snakemake.resources.device, log, "gapfill.device")
mean, std, trainer = fit_bcnn(data, particles=s["particles"], n_features=s["n_features"], epochs=s["epochs"],
                              learning_rate=s["learning_rate"], batch_size=s["batch_size"],
                              seed=snakemake.params.seed, device=str(device), log=log)
write_netcdf(product(data, mean, std, coords, exp, pset), snakemake.output.product, config)
scores = score_test_months(data, mean, std, coords)
write_netcdf(scores.assign_attrs(title=f"BCNN test-month scores ({exp}, {pset})"), snakemake.output.scores, config)

rows = {f"median_{v}": float(np.nanmedian(scores[v])) if np.isfinite(scores[v]).any() else np.nan
        for v in scores.data_vars if v not in ("lat_bnds", "lon_bnds", "crs")}
if snakemake.input.truth:
    with xr.open_dataset(snakemake.input.truth) as truth:
        true = truth["twsa"].sel(time=data.time).values.astype(float)
    unobserved = ~data.mask.any((1, 2))  # the mission gap and every single missing month
    gap = in_periods(data.time, [GAP])
    for label, months in (("gap", gap), ("missing", unobserved)):
        bcnn_nse, base_nse = nse_against_truth(data, mean, true, months)
        both = np.isfinite(bcnn_nse) & np.isfinite(base_nse)
        share = float((bcnn_nse[both] > base_nse[both]).mean()) if both.any() else np.nan
        rows[f"truth_{label}_median_nse_bcnn"] = float(np.nanmedian(bcnn_nse))
        rows[f"truth_{label}_median_nse_trend_season"] = float(np.nanmedian(base_nse))
        rows[f"truth_{label}_share_cells_bcnn_better"] = share
        log.info("%s months vs the demo truth: median NSE BCNN %.3f, trend+season %.3f; BCNN better in %.0f%% "
                 "of cells", label, np.nanmedian(bcnn_nse), np.nanmedian(base_nse), 100 * share)
        print(f"{exp}/{pset}: BCNN beats GRACE trend+season (NSE vs truth, {label} months) in "
              f"{100 * share:.0f}% of cells")
table = pd.DataFrame([{"experiment": exp, "predictors": pset, **rows}])
write_csv(table, snakemake.output.summary, config)
log.info("\n%s", table.T.to_string())
state = {k: v.detach().cpu().contiguous() for k, v in trainer.net.state_dict().items()}
with atomic_output(snakemake.output.weights, suffix=".safetensors") as tmp:
    save_file(state, str(tmp), metadata={"config": canonical_json(config), "channels": canonical_json(data.channels)})
