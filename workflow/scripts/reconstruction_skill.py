"""Median test PCC of a reconstruction per region, next to a monthly-climatology baseline."""

import xarray as xr

from twsrecon.data.io import write_csv
from twsrecon.logs import setup
from twsrecon.reconstruction.merge import reconstruction_skill


def main(snakemake):
    log = setup(snakemake.log[0])
    table = reconstruction_skill([xr.open_dataset(p).load() for p in snakemake.input.finals])
    log.info("\n%s", table.to_string(index=False))
    write_csv(table, snakemake.output[0], {"model": snakemake.wildcards.model})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
