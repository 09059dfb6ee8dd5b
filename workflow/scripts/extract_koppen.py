"""The Köppen–Geiger GeoTIFF at the configured resolution, out of the downloaded archive."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon.download.koppen import extract_koppen  # noqa: E402

extract_koppen(snakemake.input[0], snakemake.output[0], snakemake.params.resolution, snakemake.params.member)
