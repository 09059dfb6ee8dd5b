"""Config validation against the workflow's JSON Schema, with defaults filled in.

Used by the Snakefile before any job is planned, so a bad value stops the run at once with the
dotted name of the key, and by scripts run standalone.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def _key(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        path = f"{path}.{missing}" if path else missing
    elif error.validator == "additionalProperties" and "'" in error.message:
        extra = error.message.split("'")[1]
        path = f"{path}.{extra}" if path else extra
    return path or "(top level)"


def validate(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Fill defaults into `config` in place and raise ConfigError naming every bad key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    cls = _with_defaults(jsonschema.validators.validator_for(schema))
    errors = sorted(cls(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  config key '{_key(e)}': {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    return check(config)


def check(config: dict) -> dict:
    """Cross-key rules a JSON Schema cannot express."""
    from .data.grid import Grid

    try:
        Grid.from_config(config["grid"])
    except ValueError as err:
        raise ConfigError(f"invalid configuration:\n  config key 'grid': {err}") from None
    g = config["grid"]
    if g["lat_min"] >= g["lat_max"] or g["lon_min"] >= g["lon_max"]:
        raise ConfigError("invalid configuration:\n  config key 'grid': lat_min/lon_min must be below lat_max/lon_max")
    if config["period"]["start"] > config["period"]["end"]:
        raise ConfigError(f"invalid configuration:\n  config key 'period.start': {config['period']['start']} is "
                          f"after period.end {config['period']['end']}")
    own = {*config["models"]["types"], "climatology", "trend_season",
           *(f"BCNN_{s}" for s in config["gapfill"]["predictor_sets"])}
    if clash := sorted(own & set(config["evaluation"]["external"])):
        raise ConfigError(f"invalid configuration:\n  config key 'evaluation.external': {', '.join(clash)} "
                          "is the name of one of the workflow's own products; choose another")
    return config


def local_input_files(config: dict) -> list[tuple[str, str]]:
    """(config key, path) of every local input file the config names (ERA5 globs expanded)."""
    import glob

    out = []
    if config["demo"]["enabled"]:
        return out
    inputs = config["inputs"]
    for role in ("grace", "sif", "koppen"):
        if inputs[role]["source"] == "local" and inputs[role].get("path"):
            out.append((f"inputs.{role}.path", inputs[role]["path"]))
    for key in ("scale_factor", "land_mask"):
        if inputs["grace"].get(key):
            out.append((f"inputs.grace.{key}", inputs["grace"][key]))
    if inputs["era5"]["source"] == "local":
        for pattern in inputs["era5"]["paths"]:
            hits = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
            out.extend(("inputs.era5.paths", p) for p in (hits or [pattern]))
    ev = config["evaluation"]
    if ev["enabled"] and ev["aridity"]["source"] == "map" and ev["aridity"].get("path"):
        out.append(("evaluation.aridity.path", ev["aridity"]["path"]))
    for name, ext in ev["external"].items():
        out.append((f"evaluation.external.{name}.path", ext["path"]))
    return out


def check_inputs(config: dict) -> None:
    """Before any job: every local input exists (named by its config key), and the netCDF inputs' grids cover
    the analysis domain, read from their coordinates only (the data are read by the jobs)."""
    from .data.grid import Grid, check_covers
    from .data.io.netcdf import read_latlon
    from .errors import InputError

    files = local_input_files(config)
    missing = [f"  {key}: no such file '{path}'" for key, path in files if not Path(path).is_file()]
    if missing:
        raise ConfigError("input files not found:\n" + "\n".join(missing))
    grid = Grid.from_config(config["grid"])
    covering = ("inputs.grace.path", "inputs.era5.paths", "inputs.sif.path")
    for key, path in files:
        if key in covering:
            try:
                lat, lon, variables = read_latlon(path)
            except Exception:
                continue  # not readable as netCDF: the job that reads it says why, in full
            try:
                check_covers(lat, lon, grid, path, ", ".join(variables) or None)
            except InputError as err:
                raise ConfigError(f"{key}: {err} (config key 'grid')") from None
