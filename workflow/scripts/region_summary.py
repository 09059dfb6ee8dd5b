"""One table of the region datasets' cell counts and moves; the time-series regions checked against it."""

from twsrecon.data.io import write_csv
from twsrecon.logs import setup
from twsrecon.regions.cells import require_usable_region, summary_table
from twsrecon.regions.plan import pick_timeseries_regions, regions_to_train


def main(snakemake):
    log = setup(snakemake.log[0])
    table = summary_table(snakemake.input.regions)
    log.info("\n%s", table.to_string(index=False))
    log.info("regions that train: %s", ", ".join(regions_to_train(table)) or "none")
    # Before any heavy job: a figure of a region without cells would fail at the very end of the run.
    log.info("time-series figures for: %s",
             ", ".join(pick_timeseries_regions(table, snakemake.params.timeseries_regions)))
    write_csv(table, snakemake.output[0], config={"regions": [str(p) for p in snakemake.input.regions]})
    require_usable_region(table)  # after the table is written: it shows the counts too


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
