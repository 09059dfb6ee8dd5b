"""An external TWSA product against GRACE and each of our products, per region, over the months both cover."""

from pathlib import Path

import xarray as xr

from twsrecon.data.io import write_csv
from twsrecon.evaluation.external import compare_external
from twsrecon.evaluation.tables import region_labels
from twsrecon.logs import setup


def twsa(path):
    with xr.open_dataset(path) as ds:
        return ds["twsa"].load()


def main(snakemake):
    log = setup(snakemake.log[0])
    external = twsa(snakemake.input.external)
    ours = {"GRACE": twsa(snakemake.input.cube)}
    for path in snakemake.input.reconstructions:
        ours[Path(path).stem] = twsa(path)  # results/reconstruction/<MODEL>.nc
    for path in snakemake.input.gap_product:  # none when the gap fill is off
        ours["BCNN_gapfilled"] = twsa(path)
    regions, order = region_labels(snakemake.input.koppen)
    table = compare_external(external, ours, regions, order)
    table.insert(0, "external", snakemake.wildcards.external)
    log.info("\n%s", table.to_string(index=False))
    write_csv(table, snakemake.output[0], {"external": snakemake.wildcards.external})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
