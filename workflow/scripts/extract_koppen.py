"""The Köppen–Geiger GeoTIFF at the configured resolution, out of the downloaded archive."""

from twsrecon.download.koppen import extract_koppen
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    extract_koppen(snakemake.input[0], snakemake.output[0], snakemake.params.resolution, snakemake.params.member)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
