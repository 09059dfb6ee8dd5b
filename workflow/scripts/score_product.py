"""Per-cell skill of one product on every period it can be scored on (see twsrecon.evaluation)."""

from twsrecon.data.io import write_netcdf
from twsrecon.evaluation.scores import score_product
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    product, kind = snakemake.wildcards.product, snakemake.params.kind
    paths = {k: snakemake.input[k] for k in snakemake.input.keys() if k != "code"}
    scores = score_product(kind, product, **paths, holdout=snakemake.params.holdout, log=log)
    write_netcdf(scores, snakemake.output[0], {"product": product, "kind": kind})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
