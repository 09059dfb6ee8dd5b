"""Record which config and which code made an output."""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import lru_cache
from pathlib import Path

from . import __version__

_REPO = Path(__file__).resolve().parents[2]


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config) -> str:
    """Short, order-independent hash of a config mapping."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit (and '-dirty') when run from a checkout.

    Computed at run time, never passed through Snakemake params: a volatile param would rerun everything.
    """
    version = f"twsrecon {__version__}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no", "--", "src", "workflow"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        version += f" (git {commit}{'-dirty' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def provenance_attrs(config) -> dict[str, str]:
    """Global attributes every output carries."""
    return {
        "workflow_config": canonical_json(config),
        "workflow_config_sha256": config_hash(config),
        "code_version": code_version(),
    }
