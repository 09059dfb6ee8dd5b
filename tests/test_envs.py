"""Every rule's conda environment (envs/*.yaml) holds what the rule's script imports.

With `--software-deployment-method conda` a script runs in its rule's environment only, so a package
missing there is a ModuleNotFoundError on the cluster, hours into a run. Conda cannot reach its channels
here; the test builds one virtualenv per environment from that environment's packages only (their pip
names, same versions) and runs, inside it, with the package on PYTHONPATH as the Snakefile sets it:

- every import at the top of the rule's script (which pulls in the package modules' own top-level imports);
- the imports inside the package functions the script calls, followed through the calls they make
  (a lazy `import pyet` in the function that computes PET counts; one in a function the rule never
  reaches, such as the BCNN fit's `import torch` for the evaluation rules, does not);
- for envs/workflow.yaml (the one Snakemake itself runs in): a dry run of the demo and of the real config.

The rules and their environments come from the workflow itself (Snakemake's API), under the demo config
(CPU) and under config/real.yaml (CUDA, download rules), so a new rule or env is covered without editing this.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import REPO

SRC = REPO / "src"
ENVS = REPO / "envs"
# conda-forge names whose pip package has another name; None: not a Python package (or a metapackage
# that only picks a build, e.g. the CUDA or CPU variant of pytorch).
CONDA_TO_PIP = {"python": None, "pip": None, "pytorch": "torch", "pytorch-gpu": None, "pytorch-cpu": None, "cpuonly": None,
                "cuda-version": None, "matplotlib-base": "matplotlib",
                "dask-core": "dask", "snakemake-minimal": "snakemake"}


def pip_requirement(spec: str) -> str | None:
    """A conda match spec ('numpy=2.4', 'xarray>=2024.1', 'pytorch=2.13=*cuda*') as a pip requirement."""
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec.strip())
    name, version = m.group(1).lower(), m.group(2).strip()
    name = CONDA_TO_PIP.get(name, name)
    if name is None:
        return None
    if re.fullmatch(r"=[^=<>!,\s]+(=.*)?", version):  # conda's "=X.Y" is the series X.Y.*; a build string may follow
        version = "==" + version[1:].split("=")[0].rstrip(".*") + ".*"
    return name + version.replace(" ", "")


def env_requirements(path: Path) -> list[str]:
    spec = yaml.safe_load(path.read_text())
    out = []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            out += list(dep.get("pip", []))
        elif (req := pip_requirement(dep)) is not None:
            out.append(req)
    return sorted(out)


def workflow_rules(workdir: Path, *configfiles: str) -> dict[str, tuple[Path, Path | None]]:
    """rule name -> (its conda env file, its script) in the workflow parsed with these config files."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from snakemake.api import SnakemakeApi\n"
        "from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings\n"
        "configfiles = [Path(p) for p in sys.argv[2:]]\n"
        "with SnakemakeApi(OutputSettings()) as api:\n"
        "    wf = api.workflow(resource_settings=ResourceSettings(), storage_settings=StorageSettings(),\n"
        "                      config_settings=ConfigSettings(configfiles=configfiles),\n"
        "                      snakefile=Path('Snakefile'), workdir=Path(sys.argv[1]))\n"
        "    rules = {r.name: [str(Path(r.snakefile).parent / r.conda_env) if r.conda_env else None,\n"
        "                      str(Path(r.snakefile).parent / r.script) if r.script else None]\n"
        "             for r in wf._workflow.rules}\n"
        "print('RULES=' + json.dumps(rules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(workdir), *configfiles], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rules = json.loads(proc.stdout.split("RULES=")[-1])
    return {name: (Path(env).resolve() if env else None, Path(script).resolve() if script else None)
            for name, (env, script) in rules.items()}


@pytest.fixture(scope="session")
def rule_envs(tmp_path_factory) -> dict[tuple[str, str], tuple[Path, Path | None]]:
    """(rule, which config) -> (env file, script), under the demo config and under config/real.yaml."""
    out = {}
    for label, args in (("demo", ()), ("real", (str(REPO / "config" / "real.yaml"),))):
        for name, (env, script) in workflow_rules(tmp_path_factory.mktemp(label), *args).items():
            if name != "all":
                out[(name, label)] = (env, script)
    return out


# --- which imports a script needs: its top-level ones, and the lazy ones inside what it calls ---


def _module_file(module: str) -> Path | None:
    rel = Path(*module.split("."))
    for cand in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if cand.exists():
            return cand
    return None


def _absolute(module: str | None, level: int, package: str) -> str:
    """`from ..x import y` inside `package` as an absolute module name."""
    if not level:
        return module or ""
    parts = package.split(".")
    return ".".join([*parts[: len(parts) - (level - 1)], *([module] if module else [])])


class _Module:
    """A package module's functions (with their lazy imports and the names they call) and its imported names."""

    def __init__(self, name: str, path: Path):
        self.name = name.removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        self.package = self.name if path.name == "__init__.py" else self.name.rsplit(".", 1)[0]
        self.imported: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute or None)
        self.functions: dict[str, ast.AST] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.ImportFrom):
                mod = _absolute(node.module, node.level, self.package)
                for a in node.names:
                    self.imported[a.asname or a.name] = (mod, a.name)

    def lazy_imports(self, func: str) -> tuple[list[str], set[str]]:
        """Import statements inside `func` (absolute form), and the bare names / attribute chains it uses."""
        stmts, used = [], set()
        for node in ast.walk(self.functions[func]):
            if isinstance(node, ast.Import):
                stmts.append(ast.unparse(node))
            elif isinstance(node, ast.ImportFrom):
                mod = _absolute(node.module, node.level, self.package)
                stmts.append(f"from {mod} import {', '.join(a.name for a in node.names)}")
            elif isinstance(node, ast.Name):
                used.add(node.id)
        return stmts, used


def needed_imports(script: Path) -> list[str]:
    """The script's top-level imports plus the lazy imports of the package functions it reaches."""
    tree = ast.parse(script.read_text())
    stmts = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules: dict[str, _Module] = {}

    def module(name):
        if name not in modules and (path := _module_file(name)) is not None:
            modules[name] = _Module(name, path)
        return modules.get(name)

    todo = [(n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(
        "twsrecon") for a in n.names]
    seen = set()
    while todo:
        mod_name, name = todo.pop()
        if (mod_name, name) in seen:
            continue
        seen.add((mod_name, name))
        mod = module(mod_name)
        if mod is None:
            continue
        if name not in mod.functions:  # a name the module re-exports, or a submodule
            if name in mod.imported:
                todo.append(mod.imported[name])
            elif module(f"{mod_name}.{name}") is not None:
                todo += [(f"{mod_name}.{name}", f) for f in modules[f"{mod_name}.{name}"].functions]
            continue
        lazy, used = mod.lazy_imports(name)
        stmts += lazy
        todo += [(mod_name, u) for u in used if u in mod.functions]
        todo += [mod.imported[u] for u in used if u in mod.imported and mod.imported[u][0].startswith("twsrecon")]
    return list(dict.fromkeys(stmts))


# --- one virtualenv per environment file, from its packages only ---


@pytest.fixture(scope="session")
def env_pythons(tmp_path_factory) -> dict[Path, Path]:
    """env file -> the python of a virtualenv holding only that env's packages (built in parallel, once;
    envs with the same pip packages, such as the CPU and GPU torch envs, share one)."""
    root = tmp_path_factory.mktemp("envs")
    envs = {env.resolve(): tuple(env_requirements(env)) for env in sorted(ENVS.glob("*.yaml"))}

    def build(reqs: tuple[str, ...]) -> tuple[tuple[str, ...], Path]:
        names = [e.stem for e, r in envs.items() if r == reqs]
        venv = root / "+".join(names)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
        python = venv / "bin" / "python"
        proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                               "--no-input", "--no-compile", "--prefer-binary", *reqs],
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"{names}: pip could not install {list(reqs)}:\n{proc.stderr[-4000:]}"
        return reqs, python

    with ThreadPoolExecutor(max_workers=4) as pool:
        pythons = dict(pool.map(build, sorted(set(envs.values()))))
    return {env: pythons[reqs] for env, reqs in envs.items()}


def test_conda_specs_translate():
    """The translation the test relies on: conda's '=' series, builds and metapackages."""
    assert pip_requirement("numpy=2.4") == "numpy==2.4.*"
    assert pip_requirement("pytorch=2.13=cuda*") == "torch==2.13.*"
    assert pip_requirement("xarray>=2024.1") == "xarray>=2024.1"
    assert pip_requirement("matplotlib-base=3.11") == "matplotlib==3.11.*"
    assert pip_requirement("cuda-version>=12.6,<13") is None and pip_requirement("pytorch-gpu=2.13") is None


def test_needed_imports_follow_calls():
    """The lazy imports counted are those of the functions a script reaches, not a module's others."""
    aridity = needed_imports(REPO / "workflow" / "scripts" / "aridity.py")
    assert "import pyet" in aridity
    score = needed_imports(REPO / "workflow" / "scripts" / "score_product.py")
    assert "import torch" not in score  # the BCNN fit lives in gapfill.py, which scoring imports but never fits
    grace = needed_imports(REPO / "workflow" / "scripts" / "download_grace.py")
    assert {"import earthaccess", "import requests"} <= set(grace)


def test_gpu_and_cpu_torch_envs():
    """GPU rules get a CUDA build of PyTorch on a GPU node, laptops a CPU build, both from conda-forge."""
    gpu = yaml.safe_load((ENVS / "torch-gpu.yaml").read_text())
    cpu = yaml.safe_load((ENVS / "torch.yaml").read_text())
    for spec in (gpu, cpu):
        assert spec["channels"][0] == "conda-forge" and "pytorch" not in spec["channels"]
    names = lambda s: {re.split(r"[=<>! ]", d)[0] for d in s["dependencies"] if isinstance(d, str)}  # noqa: E731
    assert {"pytorch", "pytorch-gpu", "cuda-version"} <= names(gpu)
    assert {"pytorch", "pytorch-cpu"} <= names(cpu) and "cpuonly" not in names(cpu)
    assert env_requirements(ENVS / "torch-gpu.yaml") == env_requirements(ENVS / "torch.yaml")


def test_every_env_is_used(rule_envs):
    used = {env for env, _ in rule_envs.values() if env} | {ENVS.resolve() / "workflow.yaml"}
    assert used == {p.resolve() for p in ENVS.glob("*.yaml")}, "an env file no rule uses, or a rule's missing one"


@pytest.mark.integration  # builds a virtualenv per env file with pip (about a minute)
def test_rule_scripts_import_in_their_env(rule_envs, env_pythons):
    """Every rule's script's imports succeed in a virtualenv of its env's packages and nothing else."""
    by_env: dict[Path, dict[str, list[str]]] = {}
    for (rule, label), (env, script) in sorted(rule_envs.items()):
        assert env is not None, f"rule {rule} ({label} config) has no conda: directive"
        assert env.exists(), f"rule {rule}: conda env {env} does not exist"
        if script is not None:
            by_env.setdefault(env, {})[rule] = needed_imports(script)
    failures = []
    for env, rules in by_env.items():
        # One interpreter per env: a failed import is not cached, so each rule's own statements still fail
        # where its env lacks a package, whatever the rules before it imported.
        code = ("import json, sys, traceback\nrules = json.loads(sys.argv[1])\nfailed = {}\n"
                "for rule, stmts in rules.items():\n"
                "    for stmt in stmts:\n"
                "        try:\n            exec(stmt, {})\n"
                "        except Exception as err:\n"
                "            failed[rule] = f'{stmt}: {type(err).__name__}: {err}'\n            break\n"
                "print('FAILED=' + json.dumps(failed))\n")
        env_vars = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env_vars |= {"PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
        proc = subprocess.run([str(env_pythons[env]), "-c", code, json.dumps(rules)], cwd=REPO, env=env_vars,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0 and "FAILED=" in proc.stdout, proc.stderr[-3000:]
        for rule, msg in json.loads(proc.stdout.split("FAILED=")[-1]).items():
            failures.append(f"rule {rule} in {env.relative_to(REPO)}: {msg}")
    assert not failures, "\n".join(failures)


@pytest.mark.integration  # builds a virtualenv per env file with pip (about a minute)
def test_workflow_env_runs_snakemake(env_pythons, tmp_path):
    """envs/workflow.yaml parses the workflow (demo and real config) and has the SLURM executor plugin."""
    python = env_pythons[ENVS.resolve() / "workflow.yaml"]
    code = ("import sys, snakemake_executor_plugin_slurm\n"
            "from snakemake.cli import main\n"
            "sys.argv = ['snakemake'] + sys.argv[1:]\n")
    for extra in ([], ["--configfile", str(REPO / "config" / "real.yaml")]):
        args = ["-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "--quiet", "rules", *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env |= {"PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}", "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run([str(python), "-c", code + "main()", *args], env=env, capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, (f"snakemake -n {' '.join(extra)} in envs/workflow.yaml:\n"
                                      f"{(proc.stdout + proc.stderr)[-3000:]}")
