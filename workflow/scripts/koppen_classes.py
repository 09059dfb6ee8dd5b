"""Köppen–Geiger class of each analysis cell."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon.cube import build_koppen  # noqa: E402
from twsrecon.grid import Grid  # noqa: E402

p = snakemake.params
build_koppen(snakemake.input.koppen, p.format, Grid.from_config(p.grid), snakemake.output[0],
             config={"grid": p.grid, "format": p.format, "min_land_fraction": p.min_land_fraction},
             min_land=p.min_land_fraction)
