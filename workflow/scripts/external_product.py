"""An external TWSA product regridded to the analysis grid and the monthly axis."""

from twsrecon.data.grid import Grid
from twsrecon.data.io import write_netcdf
from twsrecon.evaluation.external import external_product
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    s, name = snakemake.params.settings, snakemake.wildcards.external
    ds = external_product(s, snakemake.input[0], name, Grid.from_config(snakemake.params.grid))
    da = ds["twsa"]
    covered = int(da.notnull().any("time").sum())
    log.info("%s: %d months %s...%s, %d analysis cells covered", name, da.sizes["time"],
             str(da["time"].values[0])[:7], str(da["time"].values[-1])[:7], covered)
    write_netcdf(ds, snakemake.output[0], {"external": s})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
