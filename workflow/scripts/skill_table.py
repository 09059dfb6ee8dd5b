"""The project's skill benchmark on the demo world: every product against the true TWSA, per aridity class."""

import pandas as pd

from twsrecon import evaluation as ev
from twsrecon.io import write_csv
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    scores = ev.read_scores(snakemake.input.scores)
    truth_scores = {p: ds.sel(period=[x for x in ds["period"].values if x in ev.TRUTH_PERIODS]) for p, ds in scores.items()}
    classes, order = ev.aridity_labels(snakemake.input.aridity)
    table = ev.medians(truth_scores, classes, order, "aridity_class")
    table["period"] = pd.Categorical(table["period"], list(ev.TRUTH_PERIODS))
    table["aridity_class"] = pd.Categorical(table["aridity_class"], [*order, "all"])
    table = table.sort_values(["period", "aridity_class"], kind="stable")  # products keep the workflow's order
    log.info("\n%s", table.to_string(index=False))
    write_csv(table, snakemake.output[0], {"products": list(scores), "periods": ev.TRUTH_PERIODS})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
