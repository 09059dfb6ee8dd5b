"""Download the JPL GRACE/GRACE-FO mascon CRI grid from PO.DAAC with earthaccess."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon.download.earthdata import download_mascon  # noqa: E402

download_mascon(snakemake.params.version, snakemake.params.period, snakemake.output[0])
