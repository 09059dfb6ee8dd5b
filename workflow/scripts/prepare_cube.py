"""Build the analysis-ready cube from the providers' files."""

from twsrecon.data.cube import prepare_cube
from twsrecon.data.grid import Grid
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    p = snakemake.params
    inp = snakemake.input
    inputs = {
        "grace": {**p.grace, "path": inp.grace, "scale_factor": inp.get("scale_factor"),
                  "land_mask": inp.get("land_mask")},
        "era5": {"paths": list(inp.era5)},
        "sif": {"path": inp.sif, "variable": p.sif_variable},
    }
    prepare_cube(
        inputs, Grid.from_config(p.grid), p.period["start"], p.period["end"], snakemake.output[0],
        config={"grid": p.grid, "period": p.period, "prepare": p.prepare, "grace": p.grace},
        chunk_months=p.prepare["chunk_months"], min_coverage=p.prepare["min_coverage"],
        min_land_fraction=p.prepare["min_land_fraction"], max_missing_share=p.prepare["max_missing_share"],
        threads=snakemake.threads,
    )
    log.info("cube written to %s", snakemake.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
