"""The report's first screen: median skill of every product, the BCNN gap-fill map, one regional series."""

import textwrap

from twsrecon.evaluation.plots import gap_means, summary
from twsrecon.evaluation.scores import PERIOD_LONG
from twsrecon.evaluation.tables import read_scores, summary_table
from twsrecon.evaluation.trends import regional_series
from twsrecon.logs import setup
from twsrecon.periods import GAP


def main(snakemake):
    log = setup(snakemake.log[0])
    periods = snakemake.params.periods
    table = summary_table(read_scores(snakemake.input.scores), periods)
    log.info("\n%s", table.to_string())
    (mean,), n_gap, span = gap_means(snakemake.input.gap_product, "twsa_bcnn")
    region = snakemake.params.region
    series, band, grace = regional_series(region, snakemake.input.koppen, snakemake.input.cube,
                                             snakemake.input.reconstructions, [snakemake.input.gap_product],
                                             snakemake.input.truth)
    periods_text = textwrap.fill("; ".join(f"{p}: {PERIOD_LONG[p]}" for p in periods), 90)
    summary(table, f"Median skill over all cells, per period\n{periods_text}",
            (mean, "mean TWSA (cm)", f"BCNN gap fill: mean of the {n_gap} gap months {span}"), region, series, band,
            grace, GAP, snakemake.output[0], coast=snakemake.params.coastlines)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
