"""The report's first screen: median skill of every product, the BCNN gap-fill map, one regional series."""

import textwrap

import xarray as xr

from twsrecon import evaluation as ev
from twsrecon.logs import setup
from twsrecon.periods import GAP
from twsrecon.plots import summary


def main(snakemake):
    log = setup(snakemake.log[0])
    periods = snakemake.params.periods
    table = ev.summary_table(ev.read_scores(snakemake.input.scores), periods)
    log.info("\n%s", table.to_string())
    with xr.open_dataset(snakemake.input.gap_product) as ds:
        gap = ds["mission_gap"].values == 1
        mean = ds["twsa_bcnn"].isel(time=gap).mean("time").load()
        span = f"{str(ds['time'].values[gap][0])[:7]}…{str(ds['time'].values[gap][-1])[:7]}"
    region = snakemake.params.region
    series, band, grace = ev.regional_series(region, snakemake.input.koppen, snakemake.input.cube,
                                             snakemake.input.reconstructions, [snakemake.input.gap_product],
                                             snakemake.input.truth)
    periods_text = textwrap.fill("; ".join(f"{p}: {ev.PERIOD_LONG[p]}" for p in periods), 90)
    summary(table, f"Median skill over all cells, per period\n{periods_text}",
            (mean, "mean TWSA (cm)", f"BCNN gap fill: mean of the {int(gap.sum())} gap months {span}"), region, series, band, grace, GAP, snakemake.output[0], coast=snakemake.params.coastlines)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
