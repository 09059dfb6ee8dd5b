"""Optuna tuning of the GR*Ai*CE hyperparameters per region and model type, and of the learning rate
for the low-PCC cells (the re-tuning that uses it: `retune`).

The objective is the validation loss of one model trained on the pooled samples of the tuning cells
(the authors tuned on test MAE, which leaks the test set into model selection). The MedianPruner
receives every epoch's validation loss. Each study lives in its own journal file, so any number of
tuning jobs can run at once on a shared filesystem; a killed job leaves its finished trials there
and the rerun only adds the missing ones.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from ..device import resolve_device
from ..logs import Progress
from ..regions.classes import PUBLISHED_MODEL_TYPES
from .fitting import prepare
from .hyperparameters import Hyperparameters, MissingStudyError, read_published
from .merge import PUBLISHED_SELECTION, TUNED_SELECTION
from .models import BatchedRegressor
from .training import TrainSettings, train

log = logging.getLogger(__name__)

def suggest(trial: optuna.Trial, space: dict) -> Hyperparameters:
    """The authors' parameters and names (so their studies can be read and continued); ranges from the
    config's hyperparameters.search_space, whose defaults are the authors' ranges."""
    units = trial.suggest_int("units", *space["units"])
    window = trial.suggest_int("window", *space["window"], step=space["window_step"])
    lr = trial.suggest_float("learning_rate", *space["learning_rate"], log=True)
    n_layers = trial.suggest_int("n_layers", *space["n_layers"])
    dense = tuple(trial.suggest_int(f"n_units_l{i}", *space["n_units"]) for i in range(n_layers))
    return Hyperparameters(units=units, window=window, learning_rate=lr, n_layers=n_layers, n_units=dense,
                           source=f"tuned: trial {trial.number}")


def open_study(path, name: str, seed: int, pruner_startup: int = 5, pruner_warmup: int = 5) -> optuna.Study:
    """A study in its own journal file; trials left RUNNING by a killed job are marked FAIL."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    study = optuna.create_study(
        study_name=name, storage=storage, direction="minimize", load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=pruner_startup, n_warmup_steps=pruner_warmup))
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        log.warning("trial %d of study %s was left running by an interrupted job: marked FAIL", t.number, name)
    # A resumed study must not replay the proposals of its first run.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    return study


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def pooled_validation_loss(trial, predictors, twsa, flags, hp: Hyperparameters, model_type: str, *, seed: int,
                           settings: TrainSettings, include_current: bool, learning_rate=None,
                           device="cpu", on_masks=None, trend: str = "none") -> float:
    """Train one model on the training months of all given cells together (the stored split); its best
    MSE on their validation months. Test months reach neither the training, the early stopping nor the
    objective. `on_masks(train_mask, val_mask, flags)` sees what the trainer receives (tests listen)."""
    prep = prepare(predictors, twsa, hp.window, flags, include_current, trend)
    x, y, train_mask, val_mask = prep.pooled(1, device)
    if on_masks is not None:
        on_masks(train_mask, val_mask, prep.flags.reshape(1, -1))
    model = BatchedRegressor.from_hyperparameters(1, predictors.shape[-1], hp, model_type).to(device)
    model.initialise([seed + trial.number])

    def report(epoch, val):
        trial.report(float(val[0]), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    lr = hp.learning_rate if learning_rate is None else learning_rate
    res = train(model, x, y, [0], train_mask, val_mask, lr, [seed + trial.number], settings, on_epoch=report,
                progress=None)  # one line per trial instead (`tune`)
    return float(res.best_val_loss[0])


def pooled_validation_losses(trials, predictors, twsa, flags, hp: Hyperparameters, model_type: str, *, seed: int,
                             settings: TrainSettings, include_current: bool, learning_rates,
                             device="cpu", trend: str = "none") -> list[float | None]:
    """Several trials of one shape (the learning-rate study: only the rate differs) trained at once as the
    models of one batched model, each with its own seed (seed + trial number, as alone), learning rate,
    early stopping and pruner reports (only while it runs). Best validation MSE per trial; None where
    the pruner stopped it."""
    prep = prepare(predictors, twsa, hp.window, flags, include_current, trend)
    k = len(trials)
    x, y, train_mask, val_mask = prep.pooled(k, device)
    seeds = [seed + t.number for t in trials]
    model = BatchedRegressor.from_hyperparameters(k, predictors.shape[-1], hp, model_type).to(device)
    model.initialise(seeds)
    pruned = np.zeros(k, bool)

    def report(epoch, val, running):
        for i, trial in enumerate(trials):
            if running[i] and not pruned[i]:
                trial.report(float(val[i]), epoch)
                pruned[i] = trial.should_prune()
        return pruned.copy()

    res = train(model, x, y, np.zeros(k, int), train_mask, val_mask, np.asarray(learning_rates, float), seeds,
                settings, on_epoch=report, progress=None)
    return [None if pruned[i] else float(res.best_val_loss[i]) for i in range(k)]


def tune(study: optuna.Study, n_trials: int, objective) -> optuna.Study:
    """Run the trials still missing from `n_trials` (complete or pruned trials count as done)."""
    missing = n_trials - finished_trials(study)
    log.info("study %s: %d trials done, %d to run", study.study_name, n_trials - max(missing, 0), max(missing, 0))
    if missing > 0:
        progress = Progress(log, f"study {study.study_name}", missing, unit="trial")
        done = []

        def report(study, trial):
            """Each trial's duration and state; the study's progress at most once a minute."""
            done.append(trial.number)
            seconds = trial.duration.total_seconds() if trial.duration else float("nan")
            value = f"{trial.value:.4g}" if trial.value is not None else "-"
            log.info("trial %d %s in %.1f s (validation MSE %s)", trial.number, trial.state.name.lower(), seconds,
                     value)
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            best = min(t.value for t in complete) if complete else None
            progress.update(len(done) - 1, extra=f"best validation MSE {best:.4g}" if best is not None else "",
                            final=len(done) == missing)

        study.optimize(objective, n_trials=missing, gc_after_trial=False, callbacks=[report])
    return study


def tune_hyperparameters(study_path, name, predictors, twsa, flags, model_type, *, n_trials, space, seed, settings,
                         include_current, device="cpu", on_masks=None, trend: str = "none") -> Hyperparameters:
    study = open_study(study_path, name, seed)

    def objective(trial):
        hp = suggest(trial, space)
        return pooled_validation_loss(trial, predictors, twsa, flags, hp, model_type, seed=seed, settings=settings,
                                      include_current=include_current, device=device, on_masks=on_masks,
                                      trend=trend)

    tune(study, n_trials, objective)
    best = study.best_trial
    return Hyperparameters.from_optuna_params(
        best.params, f"tuned: study {name} in {study_path}, trial {best.number}, validation MSE {best.value:.4g}")


def tune_learning_rate(study_path, name, predictors, twsa, flags, hp: Hyperparameters, model_type, *, n_trials, seed,
                       settings, include_current, device="cpu", trials_at_once: int = 1,
                       trend: str = "none") -> float:
    """Re-tune the learning rate on the low-PCC cells: log-uniform in best·1e-3 … best·10.

    `trials_at_once` > 1: that many trials are asked from Optuna together and trained as one batched
    model (`pooled_validation_losses`), then told; a rerun resumes with the trials still missing."""
    study = open_study(study_path, name, seed)
    low, high = hp.learning_rate * 1e-3, hp.learning_rate * 10
    if trials_at_once > 1:
        missing = n_trials - finished_trials(study)
        log.info("study %s: %d trials to run, %d at once", name, max(missing, 0), trials_at_once)
        progress = Progress(log, f"study {name}", max(missing, 0), unit="trial")
        done = 0
        while missing > 0:
            batch = [study.ask() for _ in range(min(trials_at_once, missing))]
            lrs = [t.suggest_float("learning_rate", low, high, log=True) for t in batch]
            t0 = time.monotonic()
            values = pooled_validation_losses(batch, predictors, twsa, flags, hp, model_type, seed=seed,
                                              settings=settings, include_current=include_current,
                                              learning_rates=lrs, device=device, trend=trend)
            for trial, value in zip(batch, values):
                if value is None:
                    study.tell(trial, state=TrialState.PRUNED)
                else:
                    study.tell(trial, value)
            log.info("trials %s done together in %.1f s (validation MSE %s)", [t.number for t in batch],
                     time.monotonic() - t0, ", ".join("pruned" if v is None else f"{v:.4g}" for v in values))
            done += len(batch)
            missing -= len(batch)
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            best = f"best validation MSE {min(t.value for t in complete):.4g}" if complete else ""
            progress.update(done - 1, extra=best, final=missing <= 0)
        return float(study.best_params["learning_rate"])

    def objective(trial):
        lr = trial.suggest_float("learning_rate", low, high, log=True)
        return pooled_validation_loss(trial, predictors, twsa, flags, hp, model_type, seed=seed, settings=settings,
                                      include_current=include_current, learning_rate=lr, device=device,
                                      trend=trend)

    tune(study, n_trials, objective)
    return float(study.best_params["learning_rate"])


def sample_cells(n_cells: int, n_sample: int, seed: int) -> np.ndarray:
    """The cells a tuning study trains on (all when n_sample is 0 or exceeds the region)."""
    if n_sample <= 0 or n_sample >= n_cells:
        return np.arange(n_cells)
    return np.sort(np.random.default_rng(seed).choice(n_cells, n_sample, replace=False))


def choose_hyperparameters(cells_of, region: str, model_type: str, settings: dict, training: dict, study_path,
                           device_name: str, log: logging.Logger = log) -> tuple[Hyperparameters, str]:
    """Steps 1-4 for one region and model type: the authors' published study where `settings["source"]` is
    "published", else (or, with `fallback_to_tune`, where that study is missing) an Optuna study on a sample
    of the region's cells `cells_of`. Returns the hyperparameters and how they were selected."""
    if settings["source"] == "published" and model_type not in PUBLISHED_MODEL_TYPES:
        log.info("%s has no published study (the authors published %s): tuned", model_type,
                 ", ".join(PUBLISHED_MODEL_TYPES))
    elif settings["source"] == "published":
        try:
            with tempfile.TemporaryDirectory() as work:
                hp = read_published(settings["published_dir"], region, model_type, work)
            log.info("published hyperparameters: %s", hp)
            log.warning("%s", PUBLISHED_SELECTION)
            return hp, PUBLISHED_SELECTION
        except MissingStudyError as err:
            if not settings["fallback_to_tune"]:
                raise
            # Loud: these hyperparameters will not be the authors' (the dry run counted such jobs, common.smk)
            log.warning("FALLBACK TO TUNING in %s for %s: %s. hyperparameters.fallback_to_tune is set, so this job "
                        "runs %d Optuna trials instead of reading the authors' study; put the study there to use "
                        "the published hyperparameters (config/README.md, 'The authors' Optuna studies')",
                        region, model_type, err, settings["trials"])
    device = resolve_device(device_name, log)
    n = len(cells_of.x)
    sample = cells_of.subset(sample_cells(n, settings["cells"], training["seed"]))
    log.info("tuning %s in %s on %d of %d cells, %d trials, on the stored split's training and validation months",
             model_type, region, len(sample.x), n, settings["trials"])
    hp = tune_hyperparameters(
        study_path, f"{region}-study_OPTUNA_{model_type}", sample.x, sample.y, sample.flags, model_type,
        n_trials=settings["trials"], space=settings["search_space"], seed=training["seed"],
        settings=TrainSettings.from_params(training, tuning=settings),
        include_current=training["include_current_month"], device=device, trend=training["trend"])
    log.info("tuned hyperparameters: %s", hp)
    return hp, TUNED_SELECTION
