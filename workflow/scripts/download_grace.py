"""Download the JPL GRACE/GRACE-FO mascon CRI grid from PO.DAAC with earthaccess."""

from twsrecon.download.earthdata import download_mascon
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    download_mascon(snakemake.params.version, snakemake.params.period, snakemake.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
