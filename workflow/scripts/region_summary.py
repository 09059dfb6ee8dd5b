"""One table of the region datasets' cell counts."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon.io import write_csv  # noqa: E402
from twsrecon.regions import require_usable_region, summary_table  # noqa: E402

table = summary_table(snakemake.input.regions)
log.info("\n%s", table.to_string(index=False))
write_csv(table, snakemake.output[0], config={"regions": [str(p) for p in snakemake.input.regions]})
require_usable_region(table)  # after the table is written: it shows the counts too
