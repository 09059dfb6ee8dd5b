"""The project's skill benchmark on the demo world: every product against the true TWSA, per aridity class."""

from twsrecon.evaluation import scores as ev
from twsrecon.data.io import write_csv
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    scores = ev.read_scores(snakemake.input.scores)
    classes, order = ev.aridity_labels(snakemake.input.aridity)
    table = ev.truth_skill_table(scores, classes, order)
    log.info("\n%s", table.to_string(index=False))
    write_csv(table, snakemake.output[0], {"products": list(scores), "periods": ev.TRUTH_PERIODS})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
