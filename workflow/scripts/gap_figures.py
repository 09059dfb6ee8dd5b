"""Maps of the BCNN mean and spread over the gap months, and of the trend effect of the gap."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import xarray as xr  # noqa: E402

from twsrecon.plots import field_maps  # noqa: E402

with xr.open_dataset(snakemake.input.gap_product) as ds:
    gap = ds["mission_gap"].values == 1
    mean = ds["twsa_bcnn"].isel(time=gap).mean("time").load()
    std = ds["twsa_bcnn_std"].isel(time=gap).mean("time").load()
    span = f"{str(ds['time'].values[gap][0])[:7]}...{str(ds['time'].values[gap][-1])[:7]}"
field_maps([(mean, "mean TWSA (cm)", "RdBu_r", None, None), (std, "standard deviation (cm)", "viridis", 0, None)],
           f"BCNN over the {int(gap.sum())} gap months {span}", snakemake.output.gap)
with xr.open_dataset(snakemake.input.trend) as t:
    t = t.load()
field_maps([(t["trend_open"], "gap left open (cm/a)", "RdBu_r", None, None),
            (t["trend_filled"], "gap filled (cm/a)", "RdBu_r", None, None),
            (t["trend_difference"], "filled minus open (cm/a)", "RdBu_r", None, None)],
           f"Linear TWSA trend {t.attrs.get('period', '')}", snakemake.output.trend)
