"""Boxplots of per-cell PCC and NSE per Köppen–Geiger region or aridity class, one box per product."""

from twsrecon.evaluation.plots import boxplots
from twsrecon.evaluation.scores import PERIOD_LONG
from twsrecon.evaluation.tables import aridity_labels, read_scores, region_labels
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    w = snakemake.wildcards
    labels, order = (region_labels(snakemake.input.koppen) if w.grouping == "region"
                     else aridity_labels(snakemake.input.aridity))
    boxplots(read_scores(snakemake.input.scores), labels, order, w.period, PERIOD_LONG[w.period],
             "region" if w.grouping == "region" else "aridity class", snakemake.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
