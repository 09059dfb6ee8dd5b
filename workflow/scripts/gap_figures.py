"""Maps of the BCNN mean and spread over the gap months, and of the trend effect of the gap."""

import xarray as xr

from twsrecon.evaluation.plots import field_maps, gap_means
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    coast = snakemake.params.coastlines
    (mean, std), n_gap, span = gap_means(snakemake.input.gap_product, "twsa_bcnn", "twsa_bcnn_std")
    field_maps([(mean, "BCNN predictive mean", "mean TWSA (cm)", "RdBu_r", None, None),
                (std, "BCNN predictive standard deviation", "standard deviation of TWSA (cm)", "viridis", 0, None)],
               f"BCNN gap fill, mean over the {n_gap} gap months {span}", snakemake.output.gap, coast)
    with xr.open_dataset(snakemake.input.trend) as t:
        t = t.load()
    period = t.attrs.get("period", "").replace("...", "…")
    field_maps([(t["trend_open"], "gap left open (GRACE months only)", "TWSA trend (cm a-1)", "RdBu_r", None, None),
                (t["trend_filled"], "gap filled by the BCNN", "TWSA trend (cm a-1)", "RdBu_r", None, None),
                (t["trend_difference"], "filled minus open", "trend difference (cm a-1)", "RdBu_r", None, None)],
               f"Linear TWSA trend per cell, {period}", snakemake.output.trend, coast)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
