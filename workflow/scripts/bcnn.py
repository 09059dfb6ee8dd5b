"""Fit the BCNN by SVGD for one experiment and predictor set; write the record, the scores and the weights."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from twsrecon.gapfill import (bcnn_grid, fit_bcnn, nse_against_truth, prepare_gapfill, product,  # noqa: E402
                              score_test_months, to_analysis_grid)
from twsrecon.periods import GAP, in_periods  # noqa: E402
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
with xr.open_dataset(snakemake.input.classes) as classes:
    ice = np.isin(classes["kg_class"].values, s["ice_classes"])
grid = bcnn_grid(cube["lat"].values, cube["lon"].values, s["resolution"], s["domain"])
fit_data = prepare_gapfill(grid.coarsen(cube), snakemake.params.predictors, s["lags"], exp,
                           ice=grid.coarsen_mask(ice))
log.info("%s fit on the BCNN grid %d x %d (%g deg, lat %g..%g; the analysis grid is %d x %d): %d training "
         "months, %d test months, %d input channels (%s); %d ice-sheet cells left out of the loss", exp,
         *grid.grid.shape, grid.grid.resolution, grid.grid.lat_min, grid.grid.lat_max, cube.sizes["lat"],
         cube.sizes["lon"], fit_data.train.sum(), fit_data.test.sum(), len(fit_data.channels),
         ", ".join(fit_data.channels), fit_data.ice.sum())
device = resolve_device(snakemake.resources.device, log, "gapfill.device")
mean, std, trainer = fit_bcnn(fit_data, particles=s["particles"], n_features=s["n_features"], epochs=s["epochs"],
                              learning_rate=s["learning_rate"], batch_size=s["batch_size"],
                              seed=snakemake.params.seed, device=str(device), log=log,
                              particle_group=snakemake.resources.particle_group or None,
                              checkpoint=bool(snakemake.resources.checkpoint), bf16=s["bf16"])
data = fit_data if grid.identity and len(grid.rows) == cube.sizes["lat"] else \
    prepare_gapfill(cube, snakemake.params.predictors, s["lags"], exp, ice=ice, inputs=False)
mean, std = to_analysis_grid(fit_data, data, grid, mean, std)
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
    save_file(state, str(tmp), metadata={"config": canonical_json(config), "channels": canonical_json(fit_data.channels)})
