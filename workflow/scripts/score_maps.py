"""Maps of one metric per product for one period."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon import evaluation as ev  # noqa: E402
from twsrecon.plots import score_maps  # noqa: E402

w = snakemake.wildcards
score_maps(ev.read_scores(snakemake.input.scores), w.metric, w.period, ev.PERIOD_LONG[w.period], snakemake.output[0],
           coast=snakemake.params.coastlines)
