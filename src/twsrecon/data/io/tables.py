"""CSV outputs: plain tables, preceded by '#' lines recording the config and code that made them."""

from __future__ import annotations

import pandas as pd

from ...provenance import provenance_attrs
from .netcdf import atomic_output


def write_csv(df: pd.DataFrame, path, config=None) -> None:
    with atomic_output(path, suffix=".csv") as tmp:
        with open(tmp, "w") as fh:
            if config is not None:
                for key, value in provenance_attrs(config).items():
                    fh.write(f"# {key}: {value}\n")
            df.to_csv(fh, index=False)


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def write_json(obj: dict, path, config=None) -> None:
    import json

    payload = dict(obj)
    if config is not None:
        payload["provenance"] = provenance_attrs(config)
    with atomic_output(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path) -> dict:
    import json

    with open(path) as fh:
        return json.load(fh)
