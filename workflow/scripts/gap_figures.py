"""Maps of the BCNN mean and spread over the gap months, and of the trend effect of the gap."""

import xarray as xr

from twsrecon.logs import setup
from twsrecon.plots import field_maps


def main(snakemake):
    log = setup(snakemake.log[0])
    coast = snakemake.params.coastlines
    with xr.open_dataset(snakemake.input.gap_product) as ds:
        gap = ds["mission_gap"].values == 1
        mean = ds["twsa_bcnn"].isel(time=gap).mean("time").load()
        std = ds["twsa_bcnn_std"].isel(time=gap).mean("time").load()
        span = f"{str(ds['time'].values[gap][0])[:7]}…{str(ds['time'].values[gap][-1])[:7]}"
    field_maps([(mean, "BCNN predictive mean", "mean TWSA (cm)", "RdBu_r", None, None),
                (std, "BCNN predictive standard deviation", "standard deviation of TWSA (cm)", "viridis", 0, None)],
               f"BCNN gap fill, mean over the {int(gap.sum())} gap months {span}", snakemake.output.gap, coast)
    with xr.open_dataset(snakemake.input.trend) as t:
        t = t.load()
    period = t.attrs.get("period", "").replace("...", "…")
    field_maps([(t["trend_open"], "gap left open (GRACE months only)", "TWSA trend (cm a-1)", "RdBu_r", None, None),
                (t["trend_filled"], "gap filled by the BCNN", "TWSA trend (cm a-1)", "RdBu_r", None, None),
                (t["trend_difference"], "filled minus open", "trend difference (cm a-1)", "RdBu_r", None, None)],
               f"Linear TWSA trend per cell, {period}", snakemake.output.trend, coast)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
