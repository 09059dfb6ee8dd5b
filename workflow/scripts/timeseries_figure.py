"""Regional mean TWSA of GRACE, the reconstructions and the BCNN gap fill with the band of its regional mean."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon import evaluation as ev  # noqa: E402
from twsrecon.periods import GAP  # noqa: E402
from twsrecon.plots import timeseries  # noqa: E402

region = snakemake.wildcards.region
series, band, grace = ev.regional_series(region, snakemake.input.koppen, snakemake.input.cube,
                                         snakemake.input.reconstructions, snakemake.input.gap_product,
                                         snakemake.input.truth)
log.info("%s: %d products", region, len(series))
timeseries(region, series, band, snakemake.output[0], reference=grace, gap=GAP)
