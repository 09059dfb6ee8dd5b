"""The import closure the rules declare as code inputs: computed from the sources, complete, nothing extra."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO

from twsrecon.imports import import_closure

SRC = REPO / "src"


def closure_of(tmp_path: Path, files: dict, script: str) -> set[str]:
    """The closure of a script `script` over a package tree `files` written under tmp_path/src."""
    src = tmp_path / "src"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    (tmp_path / "script.py").write_text(script)
    return {str(Path(p).relative_to(src)) for p in import_closure(tmp_path / "script.py", src)}


def test_closure_follows_relative_lazy_and_submodule_imports(tmp_path):
    got = closure_of(tmp_path, {
        "twsrecon/__init__.py": "",
        "twsrecon/a.py": "from .b import f\n",
        "twsrecon/b.py": "def f():\n    from .sub import deep  # lazy\n    return deep\n",
        "twsrecon/sub/__init__.py": "",
        "twsrecon/sub/deep.py": "from ..c import VALUE\n",
        "twsrecon/c.py": "VALUE = 1\n",
        "twsrecon/unused.py": "",
        "twsrecon/io/__init__.py": "from .w import write\n",
        "twsrecon/io/w.py": "import numpy\n",
    }, "import os\nfrom twsrecon import a\nfrom twsrecon.io import write\n")
    assert got == {"twsrecon/__init__.py", "twsrecon/a.py", "twsrecon/b.py", "twsrecon/sub/__init__.py",
                   "twsrecon/sub/deep.py", "twsrecon/c.py", "twsrecon/io/__init__.py", "twsrecon/io/w.py"}


def test_closure_in_nested_subpackages(tmp_path):
    """The stage subpackages' layout: a module two levels down reaches the top level (`...`), a sibling
    subpackage and its own nested package; each package's `__init__.py` on the way counts."""
    got = closure_of(tmp_path, {
        "twsrecon/__init__.py": "",
        "twsrecon/errors.py": "",
        "twsrecon/stage/__init__.py": '"""A stage."""\n',
        "twsrecon/stage/mod.py": "from ..other.util import g\nfrom .io import read\n",
        "twsrecon/stage/io/__init__.py": "from .netcdf import read\n",
        "twsrecon/stage/io/netcdf.py": "from ...errors import InputError\n",
        "twsrecon/other/__init__.py": "",
        "twsrecon/other/util.py": "",
        "twsrecon/other/unused.py": "",
    }, "from twsrecon.stage.mod import f\n")
    assert got == {"twsrecon/__init__.py", "twsrecon/errors.py", "twsrecon/stage/__init__.py", "twsrecon/stage/mod.py",
                   "twsrecon/stage/io/__init__.py", "twsrecon/stage/io/netcdf.py", "twsrecon/other/__init__.py",
                   "twsrecon/other/util.py"}


def test_train_chunk_closure_is_what_python_loads():
    """The modules an import of train_chunk's package imports really loads (sys.modules) are all declared,
    metrics and hyperparameters included (which the hand-kept list forgot)."""
    script = REPO / "workflow" / "scripts" / "train_chunk.py"
    declared = {str(Path(p).relative_to(SRC / "twsrecon")) for p in import_closure(script, SRC)}
    assert {"evaluation/metrics.py", "reconstruction/hyperparameters.py", "reconstruction/training.py",
            "reconstruction/fitting.py"} <= declared
    imports = "\n".join(line.split("  #")[0] for line in script.read_text().splitlines()
                        if line.startswith(("from twsrecon", "import twsrecon")))
    probe = (f"import sys\nsys.path.insert(0, {str(SRC)!r})\n{imports}\n"
             "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('twsrecon')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    loaded = {str(Path(p).relative_to(SRC / "twsrecon")) for p in loaded}
    assert loaded <= declared, loaded - declared
