"""The package modules a workflow script really runs: its import closure within `twsrecon`, computed.

Snakemake does not follow imports, so the rules declare these files as inputs: editing a module reruns
exactly the rules whose scripts import it (directly or through other modules), and no hand-kept list can
forget one. Only the source is parsed (nothing is imported), so it is cheap enough for every DAG build.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "twsrecon"


def _module_file(src: Path, module: str) -> Path | None:
    """The file of a dotted module name under `src` (a package's `__init__.py`), or None."""
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.AST, module: str | None, is_package: bool) -> set[str]:
    """Dotted names of every module an import statement (at any depth, lazy ones included) may load."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importing module's package upwards
                if module is None:
                    continue
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            # `from pkg import name`: the name may itself be a submodule
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


@lru_cache(maxsize=None)
def _closure(script: Path, src: Path) -> tuple[Path, ...]:
    found: dict[str, Path] = {}
    todo = [(script, None, False)]
    while todo:
        path, module, is_package = todo.pop()
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in _imported(tree, module, is_package):
            if name != PACKAGE and not name.startswith(PACKAGE + "."):
                continue
            parts = name.split(".")
            # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
            for k in range(1, len(parts) + 1):
                dotted = ".".join(parts[:k])
                if dotted in found:
                    continue
                file = _module_file(src, dotted)
                if file is None:
                    continue  # an attribute (a function or class), not a module
                found[dotted] = file
                todo.append((file, dotted, file.name == "__init__.py"))
    return tuple(sorted(set(found.values())))


def import_closure(script, src) -> list[str]:
    """The `twsrecon` source files that running `script` imports, directly or transitively, sorted."""
    return [str(p) for p in _closure(Path(script).resolve(), Path(src).resolve())]
