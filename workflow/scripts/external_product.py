"""An external TWSA product regridded to the analysis grid and the monthly axis."""

import xarray as xr

from twsrecon.evaluation import read_external
from twsrecon.grid import Grid
from twsrecon.io import write_netcdf
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    s = snakemake.params.settings
    grid = Grid.from_config(snakemake.params.grid)
    da = read_external(snakemake.input[0], s.get("variable"), grid, time_units=s.get("time_units"), units=s.get("units"))
    ds = grid.coords()
    ds["twsa"] = da.assign_attrs(units="cm", standard_name="lwe_thickness", grid_mapping="crs",
                                 long_name=f"TWSA of the external product {snakemake.wildcards.external}")
    ds = ds.assign_coords(time=("time", da["time"].values, {"standard_name": "time", "axis": "T"}))
    covered = int(da.notnull().any("time").sum())
    log.info("%s: %d months %s...%s, %d analysis cells covered", snakemake.wildcards.external, da.sizes["time"],
             str(da["time"].values[0])[:7], str(da["time"].values[-1])[:7], covered)
    write_netcdf(ds.assign_attrs(title=f"External TWSA product {snakemake.wildcards.external}", source=str(snakemake.input[0])),
                 snakemake.output[0], {"external": s})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
