"""Regional mean TWSA of GRACE, the reconstructions and the BCNN gap fill with the band of its regional mean."""

from twsrecon.evaluation.plots import timeseries
from twsrecon.evaluation.trends import regional_series
from twsrecon.logs import setup
from twsrecon.periods import GAP


def main(snakemake):
    log = setup(snakemake.log[0])
    region = snakemake.wildcards.region
    series, band, grace = regional_series(region, snakemake.input.koppen, snakemake.input.cube,
                                             snakemake.input.reconstructions, snakemake.input.gap_product,
                                             snakemake.input.truth)
    log.info("%s: %d products", region, len(series))
    timeseries(region, series, band, snakemake.output[0], reference=grace, gap=GAP)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
