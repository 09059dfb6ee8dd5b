"""Download one file from a URL (SIF product, Köppen–Geiger archive): resumable, retried, checked."""

from twsrecon.download import fetch
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    p = snakemake.params
    fetch(p.url, snakemake.output[0], expected_size=p.size, checksum=("sha256", p.sha256) if p.sha256 else None)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
