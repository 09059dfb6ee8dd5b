"""Download one file from a URL (SIF product, Köppen–Geiger archive): resumable, retried, checked."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon.download import fetch  # noqa: E402

p = snakemake.params
fetch(p.url, snakemake.output[0], expected_size=p.size, checksum=("sha256", p.sha256) if p.sha256 else None)
