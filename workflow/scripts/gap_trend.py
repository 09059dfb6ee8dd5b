"""Trend effect of the gap (Mo et al. 2022, Fig. 12): GRACE-era trends with the gap open and filled."""

import numpy as np
import xarray as xr

from twsrecon.data.io import write_netcdf
from twsrecon.evaluation.trends import gap_trend
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    with xr.open_dataset(snakemake.input.cube) as cube:
        grace = cube["twsa"].load()
        coords = cube[["lat_bnds", "lon_bnds", "crs"]].load().drop_attrs(deep=False)
    with xr.open_dataset(snakemake.input.gap_product) as product:
        filled = product["twsa"].load()
    trends = gap_trend(grace, filled)
    d = trends["trend_difference"].values
    log.info("trend difference filled - open: median %.3f cm/a, 5-95 %% %.3f..%.3f cm/a", np.nanmedian(d),
             *np.nanpercentile(d, [5, 95]))
    write_netcdf(coords.merge(trends).assign_attrs(title="Trend effect of the GRACE/GRACE-FO gap", **trends.attrs),
                 snakemake.output[0], {"gap_product": snakemake.input.gap_product})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
