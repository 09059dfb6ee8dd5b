"""The stored split of every region's cells on the analysis grid: the months every product is scored on."""

import xarray as xr

from twsrecon.data.io import write_netcdf
from twsrecon.logs import setup
from twsrecon.reconstruction.features import gridded_split


def main(snakemake):
    log = setup(snakemake.log[0])
    splits = [xr.open_dataset(p).load() for p in snakemake.input.splits]
    with xr.open_dataset(snakemake.input.cube) as cube:
        coords = cube[["lat_bnds", "lon_bnds", "crs"]].load().drop_attrs(deep=False)
        time = cube["time"].values
    ds = gridded_split(splits, coords, time)
    flags = ds["split"]
    log.info("%d cells with a split; cell-months train %d, validation %d, test %d",
             int((flags > 0).any("grace_time").sum()),
             int((flags == 1).sum()), int((flags == 2).sum()), int((flags == 3).sum()))
    write_netcdf(ds, snakemake.output[0], {"regions": [s.attrs.get("region") for s in splits]})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
