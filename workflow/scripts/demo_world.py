"""Write the synthetic demo world in the providers' formats (see twsrecon.data.demo_world)."""

from twsrecon.data.demo_world import demo_world
from twsrecon.logs import setup


def main(snakemake):
    log = setup(snakemake.log[0])
    p = snakemake.params
    paths = demo_world(p.demo, p.period, p.grid, snakemake.output.grace.rsplit("/", 1)[0])
    log.info("demo world written: %s", paths)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (Snakemake defines it)
