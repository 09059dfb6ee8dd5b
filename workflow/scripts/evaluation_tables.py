"""Median skill per Köppen–Geiger region and per aridity class; pairwise product comparisons."""

from twsrecon.data.io import write_csv
from twsrecon.evaluation.tables import evaluation_tables, read_scores
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    scores = read_scores(snakemake.input.scores)
    tables = evaluation_tables(scores, snakemake.input.koppen, snakemake.input.aridity)
    meta = {"products": list(scores)}
    for name, table in tables.items():
        write_csv(table, snakemake.output[name], meta)
    log.info("median skill per aridity class:\n%s", tables["by_aridity"].to_string(index=False))
    log.info("comparisons:\n%s", tables["comparisons"].to_string(index=False))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
