"""Köppen–Geiger class of each analysis cell."""

from twsrecon.data.cube import koppen_classes
from twsrecon.data.grid import Grid
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    p = snakemake.params
    koppen_classes(snakemake.input.koppen, p.format, Grid.from_config(p.grid), snakemake.output[0],
                 config={"grid": p.grid, "format": p.format, "min_land_fraction": p.min_land_fraction},
                 min_land=p.min_land_fraction)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
