"""Download one year of ERA5(-Land) monthly means from the Copernicus CDS, unpacked per step type."""

from twsrecon.logs import setup

log = setup(snakemake.log[0])

from twsrecon.download.cds import retrieve  # noqa: E402

dataset, request = snakemake.params.request
retrieve(dataset, request, {"avgua": snakemake.output.avgua, "avgad": snakemake.output.avgad},
         expected=snakemake.params.variables)
