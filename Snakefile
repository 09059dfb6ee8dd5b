# Reconstruction (GR*Ai*CE) and BCNN gap filling of GRACE/GRACE-FO terrestrial water storage anomalies.
# Usage: see README.md. The package in src/ does the work; rules and scripts stay thin.

import os
import sys
from pathlib import Path

SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))
# Scripts run in their own interpreters (and conda envs): they find the package the same way.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)


envvars:
    "PYTHONPATH",



# The embedded demo is the default; a --configfile (e.g. config/real.yaml) replaces it entirely,
# so a real-data run never inherits demo settings.
if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "config" / "config.yaml"



report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/regions.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/gapfill.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        CUBE,
        "results/regions/summary.csv",
        expand("results/reconstruction/{model}.nc", model=MODELS),
        expand("results/reconstruction/{model}_skill.csv", model=MODELS),
        gapfill_targets(),
        evaluation_targets(),
    default_target: True
