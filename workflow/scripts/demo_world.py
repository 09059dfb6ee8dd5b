"""Write the synthetic demo world in the providers' formats (see twsrecon.data.demo_files)."""

from twsrecon.data.demo import DemoSpec
from twsrecon.data.demo_world import generate
from twsrecon.data.grid import Grid
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    p = snakemake.params
    spec = DemoSpec.from_config(p.demo, p.period["start"], p.period["end"])
    paths = generate(spec, Grid.from_config(p.grid), snakemake.output.grace.rsplit("/", 1)[0],
                     config={"demo": p.demo, "period": p.period, "grid": p.grid})
    log.info("demo world written: %s", paths)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
