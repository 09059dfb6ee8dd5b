"""Download one year of ERA5(-Land) monthly means from the Copernicus CDS, unpacked per step type."""

from twsrecon.download.cds import retrieve
from twsrecon.logs import setup


def main(snakemake):
    setup(snakemake.log[0])  # messages, warnings and tracebacks go to the job's log
    dataset, request = snakemake.params.request
    retrieve(dataset, request, {"avgua": snakemake.output.avgua, "avgad": snakemake.output.avgad},
             expected=snakemake.params.variables)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
