"""Median test PCC of a reconstruction per region, next to a monthly-climatology baseline."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

import xarray as xr  # noqa: E402

from twsrecon.io import write_csv  # noqa: E402
from twsrecon.merge import reconstruction_skill  # noqa: E402

table = reconstruction_skill([xr.open_dataset(p).load() for p in snakemake.input.finals])
log.info("\n%s", table.to_string(index=False))
write_csv(table, snakemake.output[0], {"model": snakemake.wildcards.model})
