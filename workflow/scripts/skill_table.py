"""The project's skill benchmark on the demo world: every product against the true TWSA, per aridity class."""

from twsrecon.data.io import write_csv
from twsrecon.evaluation.scores import TRUTH_PERIODS
from twsrecon.evaluation.tables import aridity_labels, read_scores, skill_table
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    scores = read_scores(snakemake.input.scores)
    classes, order = aridity_labels(snakemake.input.aridity)
    table = skill_table(scores, classes, order)
    log.info("\n%s", table.to_string(index=False))
    write_csv(table, snakemake.output[0], {"products": list(scores), "periods": TRUTH_PERIODS})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
