"""Regional mean TWSA of GRACE, the reconstructions and the BCNN gap fill with its 95 % band."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from twsrecon import evaluation as ev  # noqa: E402
from twsrecon.gapfill import GAP  # noqa: E402
from twsrecon.plots import timeseries  # noqa: E402

region = snakemake.wildcards.region
labels, _ = ev.region_labels(snakemake.input.koppen)
cells = labels == region
log.info("%s: %d cells", region, int(cells.sum()))


def means(path, names=("twsa",)):
    """Regional means of the variables `names` of one file, read once."""
    with xr.open_dataset(path) as ds:
        return [ev.regional_mean(ds[name].load(), cells) for name in names]


series = {Path(p).stem: means(p)[0] for p in snakemake.input.reconstructions}
band = None
for path in snakemake.input.gap_product:  # none when the gap fill is off
    # Regional band from the mean of the cells' standard deviations: errors taken as fully correlated
    # in space, an upper bound on the regional uncertainty.
    band = ("BCNN", *means(path, ("twsa_bcnn", "twsa_bcnn_std")))
    series["BCNN"] = band[1]
if snakemake.input.truth:
    series["truth (demo)"] = means(snakemake.input.truth)[0]
grace = means(snakemake.input.cube)[0].rename("GRACE")
timeseries(region, series, band, snakemake.output[0], reference=grace, gap=GAP)
