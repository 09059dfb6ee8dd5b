"""Maps of one metric per product for one period."""

from twsrecon.evaluation.plots import score_maps
from twsrecon.evaluation.scores import PERIOD_LONG
from twsrecon.evaluation.tables import read_scores
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    w = snakemake.wildcards
    score_maps(read_scores(snakemake.input.scores), w.metric, w.period, PERIOD_LONG[w.period],
               snakemake.output[0], coast=snakemake.params.coastlines)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
