"""Median skill per Köppen–Geiger region and per aridity class; pairwise product comparisons."""

from twsrecon.evaluation.tables import aridity_labels, compare, comparison_pairs, medians, read_scores, region_labels, scored_months
from twsrecon.data.io import write_csv
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    scores = read_scores(snakemake.input.scores)
    regions, region_order = region_labels(snakemake.input.koppen)
    classes, class_order = aridity_labels(snakemake.input.aridity)
    meta = {"products": list(scores)}
    write_csv(medians(scores, regions, region_order, "region"), snakemake.output.by_region, meta)
    by_aridity = medians(scores, classes, class_order, "aridity_class")
    write_csv(by_aridity, snakemake.output.by_aridity, meta)
    comparisons = compare(scores, comparison_pairs(scores))
    write_csv(comparisons, snakemake.output.comparisons, meta)
    write_csv(scored_months(scores), snakemake.output.scored_months, meta)
    log.info("median skill per aridity class:\n%s", by_aridity.to_string(index=False))
    log.info("comparisons:\n%s", comparisons.to_string(index=False))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
