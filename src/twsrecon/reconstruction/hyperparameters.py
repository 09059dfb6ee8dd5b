"""The GR*Ai*CE hyperparameters, read from the authors' own published Optuna studies.

Reusing the published studies reproduces the paper's models without repeating weeks of tuning.
Those files were written by Optuna 3.0.3, whose storage schema current Optuna refuses until it is
upgraded, and upgrading rewrites the file: so only a copy is ever opened, and a user's files stay
byte-identical.
"""

from __future__ import annotations

import logging
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import optuna
import sqlalchemy.exc

from ..errors import InputError
from ..regions.classes import PUBLISHED_MODEL_TYPES, class_of

log = logging.getLogger(__name__)

# The authors named the no-SIF studies "...noLCSIF" inside files named "...noSIF".
_STUDY_MODEL_NAMES = {"LSTM": "LSTM", "BiLSTM": "BiLSTM", "LSTMnoSIF": "LSTMnoLCSIF", "BiLSTMnoSIF": "BiLSTMnoLCSIF"}
_SCALAR_PARAMS = ("units", "window", "learning_rate", "n_layers")


def _integer(name: str, value: Any, source: str) -> int:
    """An integer parameter as a Python int; a float that is not whole must not be truncated silently."""
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{source}: parameter {name} = {value!r} is not an integer")
    return int(value)


@dataclass(frozen=True)
class Hyperparameters:
    """One model's tuned hyperparameters and where they came from, so every trained model can say why."""

    units: int  # LSTM/BiLSTM units
    window: int  # months of lagged input
    learning_rate: float
    n_layers: int  # dense layers after the recurrent one
    n_units: tuple[int, ...]  # size of each dense layer
    source: str

    def __post_init__(self) -> None:
        if len(self.n_units) != self.n_layers:
            raise ValueError(f"{self.source}: n_layers = {self.n_layers} but {len(self.n_units)} dense layer sizes")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for the per-region hyperparameter files the workflow writes."""
        return {"units": self.units, "window": self.window, "learning_rate": self.learning_rate,
                "n_layers": self.n_layers, "n_units": list(self.n_units), "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Hyperparameters:
        return cls(**{**d, "n_units": tuple(d["n_units"])})

    def to_optuna_params(self) -> dict[str, int | float]:
        """The authors' parameter names, so these values can seed or be compared with an Optuna study."""
        return {"units": self.units, "window": self.window, "learning_rate": self.learning_rate,
                "n_layers": self.n_layers, **{f"n_units_l{i}": n for i, n in enumerate(self.n_units)}}

    @classmethod
    def from_optuna_params(cls, params: Mapping[str, Any], source: str) -> Hyperparameters:
        """Exactly the authors' search space: a trial that stopped before suggesting every layer is refused."""
        n_layers = _integer("n_layers", params.get("n_layers", 0), source)
        expected = {*_SCALAR_PARAMS, *(f"n_units_l{i}" for i in range(n_layers))}
        if set(params) != expected:
            raise ValueError(f"{source}: parameters {sorted(params)} are not the GR*Ai*CE ones {sorted(expected)}")
        return cls(
            units=_integer("units", params["units"], source),
            window=_integer("window", params["window"], source),
            learning_rate=float(params["learning_rate"]),
            n_layers=n_layers,
            n_units=tuple(_integer(f"n_units_l{i}", params[f"n_units_l{i}"], source) for i in range(n_layers)),
            source=source,
        )


class MissingStudyError(FileNotFoundError):
    """No published study where the authors' layout puts it for this region and model type."""

    def __init__(self, region: str, model_type: str, path: Path):
        self.region, self.model_type, self.path = region, model_type, path
        super().__init__(f"no published Optuna study for region {region!r}, model type {model_type!r}: "
                         f"expected {path}")


def _check_model_type(model_type: str) -> None:
    if model_type not in PUBLISHED_MODEL_TYPES:
        raise ValueError(f"no published studies exist for model type {model_type!r}; the authors published "
                         f"{', '.join(PUBLISHED_MODEL_TYPES)}")


def published_study_path(directory: str | Path, region: str, model_type: str, lr: bool = False) -> Path:
    """Where the authors put a region's study: <MODEL>/<region>_OPTUNA_<MODEL>.db, or the newLR re-tuning."""
    class_of(region)
    _check_model_type(model_type)
    if lr:
        return Path(directory) / model_type / "newLR" / f"{region}_LR_OPTUNA_{model_type}.db"
    return Path(directory) / model_type / f"{region}_OPTUNA_{model_type}.db"


def published_study_name(region: str, model_type: str, lr: bool = False) -> str:
    """The study's name inside its file, e.g. 'polar_frost-study_LR_OPTUNA_LSTMnoLCSIF'."""
    class_of(region)
    _check_model_type(model_type)
    return f"{region}-study_{'LR_' if lr else ''}OPTUNA_{_STUDY_MODEL_NAMES[model_type]}"


def open_published_study(path: str | Path, study_name: str, workdir: str | Path) -> optuna.Study:
    """Load a study from a copy of `path` in `workdir`, the copy's schema upgraded to this Optuna's."""
    path, workdir = Path(path), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / path.name
    shutil.copy2(path, copy)  # refuses (SameFileError) when workdir is the original's folder
    # copy2 carries the mode over too: a read-only original would give a copy SQLite cannot upgrade.
    copy.chmod(stat.S_IMODE(copy.stat().st_mode) | stat.S_IWUSR)
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{copy.resolve()}", skip_compatibility_check=True,
                                             skip_table_creation=True)
        if storage.get_current_version() != storage.get_head_version():
            # Optuna's alembic env.py calls logging.config.fileConfig when the root logger has no handler,
            # which disables every logger already made (ours included): give it one for the upgrade.
            guard = logging.NullHandler()
            logging.getLogger().addHandler(guard)
            try:
                storage.upgrade()
            finally:
                logging.getLogger().removeHandler(guard)
        names = [study.study_name for study in storage.get_all_studies()]
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.DatabaseError) as err:
        cause = err.__cause__ or err  # Optuna wraps SQLAlchemy's error, which wraps SQLite's
        raise InputError(path, f"not an Optuna study database ({getattr(cause, 'orig', cause)})") from err
    if study_name not in names:
        raise InputError(path, f"holds no Optuna study named {study_name!r}; it holds {names}")
    return optuna.load_study(study_name=study_name, storage=storage)


def _best_complete_trial(study: optuna.Study, path: Path) -> optuna.trial.FrozenTrial:
    """Best by the study's direction among COMPLETE trials only (RUNNING ones are runs that died).

    Ties go to the earliest trial, so the answer never depends on the database's row order.
    """
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not trials:
        raise InputError(path, f"study {study.study_name!r} has no COMPLETE trial")
    sign = 1 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1
    return min(trials, key=lambda trial: (sign * trial.value, trial.number))


def read_published(directory: str | Path, region: str, model_type: str, workdir: str | Path) -> Hyperparameters:
    """The published best hyperparameters of one region and model type."""
    path = published_study_path(directory, region, model_type)
    if not path.is_file():
        raise MissingStudyError(region, model_type, path)
    study = open_published_study(path, published_study_name(region, model_type), workdir)
    trial = _best_complete_trial(study, path)
    hp = Hyperparameters.from_optuna_params(
        trial.params, f"published study {path}, trial {trial.number}, value {trial.value!r}")
    log.info("%s %s: %s", region, model_type, hp)
    return hp


def read_published_lr(directory: str | Path, region: str, model_type: str, workdir: str | Path) -> float | None:
    """The re-tuned learning rate, or None where the authors did not re-tune this region.

    The authors re-tuned only regions with cells whose training+validation correlation stayed below
    0.6; but a missing newLR folder means a wrong directory, not "no re-tuning", and is an error.
    """
    path = published_study_path(directory, region, model_type, lr=True)
    if not path.is_file():
        if not path.parent.is_dir():
            raise MissingStudyError(region, model_type, path.parent)
        return None
    study = open_published_study(path, published_study_name(region, model_type, lr=True), workdir)
    trial = _best_complete_trial(study, path)
    if set(trial.params) != {"learning_rate"}:
        raise InputError(path, f"trial {trial.number} has parameters {sorted(trial.params)}, "
                               "expected only learning_rate")
    log.info("%s %s: re-tuned learning rate %r (%s, trial %d)", region, model_type,
             trial.params["learning_rate"], path, trial.number)
    return float(trial.params["learning_rate"])
