"""Steps 5-9 of GR*Ai*CE for a region: PCC screening of the trained cells, learning-rate re-tuning (the study:
`tuning.tune_learning_rate`) and retraining of the low-PCC cells, and the merge that keeps a retrained fit only where
it is better."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..device import resolve_device
from ..regions.classes import PUBLISHED_MODEL_TYPES
from .fitting import chunk_dataset, fit_cells, region_arrays
from .hyperparameters import Hyperparameters, read_published_lr
from .training import TrainSettings
from .tuning import sample_cells, tune_learning_rate

log = logging.getLogger(__name__)


def screen_and_retune(chunks, x, y, flags, cells, hp: Hyperparameters, model_type: str, *, threshold: float,
                      published_lr, lr_trials: int, study_path, study_name: str, seed: int, fits: int, settings: TrainSettings,
                      tune_settings: TrainSettings, include_current: bool, device="cpu", lr_cells: int = 0,
                      lr_trials_at_once: int = 1, combine: str = "best", trend: str = "none", start: str = "fresh"):
    """Steps 5-9 of GR*Ai*CE for one region: list the low-PCC cells, re-tune the learning rate on them
    (on `lr_cells` of them sampled as for tuning, all when 0: the pooled model of a large region's
    low-PCC cells would not fit a job),
    retrain them with it (same stored split `flags`), keep a new fit only where train+validation PCC improved.

    Returns (merged dataset, low-PCC table, weights of the kept retrained fits, new learning rate).
    """
    combined = xr.concat(chunks, dim="cell")
    order = {c: i for i, c in enumerate(cells)}
    rows = np.array([order[c] for c in combined["cell"].values])
    old = combined["pcc_train_validation"].values
    low = ~(old >= threshold)  # NaN (too few months to judge) counts as low
    table = pd.DataFrame({"cell": combined["cell"].values[low], "lat": combined["lat"].values[low],
                          "lon": combined["lon"].values[low], "pcc_train_validation": old[low]})
    combined["retrained"] = ("cell", np.zeros(combined.sizes["cell"], np.int8),
                             {"long_name": "fit from learning-rate re-tuning kept (train+validation PCC improved)",
                              "flag_values": [0, 1], "flag_meanings": "original retrained"})
    combined["low_pcc"] = ("cell", low.astype(np.int8), {"long_name": f"train+validation PCC below {threshold}"})
    if not low.any():
        log.info("no low-PCC cells: nothing to re-tune")
        return combined, table, {}, None
    if not np.array_equal(combined["split"].values, flags[rows]):
        raise ValueError("the trained chunks carry another split than the stored one: rerun training")
    xl, yl, fl, cl = x[rows[low]], y[rows[low]], flags[rows[low]], np.asarray(cells)[rows[low]]
    if published_lr is not None:
        lr = float(published_lr)
        log.info("%d low-PCC cells; published re-tuned learning rate %.3g", low.sum(), lr)
    else:
        pick = sample_cells(len(xl), lr_cells, seed)
        log.info("learning-rate study on %d of the %d low-PCC cells", len(pick), len(xl))
        lr = tune_learning_rate(study_path, study_name, xl[pick], yl[pick], fl[pick], hp, model_type,
                                n_trials=lr_trials, seed=seed, settings=tune_settings,
                                include_current=include_current, device=device, trials_at_once=lr_trials_at_once,
                                trend=trend)
        log.info("%d low-PCC cells; re-tuned learning rate %.3g (was %.3g)", low.sum(), lr, hp.learning_rate)
    res = fit_cells(xl, yl, fl, cl, hp, model_type, fits=fits, seed=seed, settings=settings,
                    include_current=include_current, learning_rate=lr, device=device, combine=combine, trend=trend,
                    start=start)
    sub = combined.isel(cell=np.flatnonzero(low))
    new = chunk_dataset(sub, res, yl, model_type, lr)
    improved = np.nan_to_num(new["pcc_train_validation"].values, nan=-2) > np.nan_to_num(old[low], nan=-2)
    log.info("retrained fits kept in %d of %d low-PCC cells", improved.sum(), low.sum())
    where = np.flatnonzero(low)[improved]
    for name in new.data_vars:
        values = combined[name].values.copy()
        values[where] = new[name].values[improved]
        combined[name] = (combined[name].dims, values, combined[name].attrs)
    combined["retrained"].values[where] = 1
    table["retrained_pcc_train_validation"] = new["pcc_train_validation"].values
    table["kept"] = improved
    return combined, table, res.weights_of(np.flatnonzero(improved)), lr


def retune_lr(chunks: list[xr.Dataset], region_path, split_path, region: str, model_type: str,
                  hyperparameters: dict | None, settings: dict, training: dict, study_path, device_name: str,
                  studies: bool = False, log: logging.Logger = log):
    """`screen_and_retune` for one region from its trained `chunks` (those with cells), the files of its cells
    and stored split and its hyperparameters (None where it is excluded). With `settings["source"]`
    "published" and the published studies there (`studies`): the authors' re-tuned learning rate, no study.

    Returns (merged dataset, low-PCC table, weights of the kept retrained fits, new learning rate); an empty
    dataset and table where there is nothing trained.
    """
    if hyperparameters is None or not chunks:
        log.warning("%s has no trained cells for %s", region, model_type)
        return xr.Dataset(), pd.DataFrame(columns=["cell", "lat", "lon", "pcc_train_validation"]), {}, None
    hp = Hyperparameters.from_dict(hyperparameters)
    cells_of = region_arrays(region_path, split_path, model_type)
    published_lr = None
    if settings["source"] == "published" and studies and model_type in PUBLISHED_MODEL_TYPES:
        with tempfile.TemporaryDirectory() as work:
            published_lr = read_published_lr(settings["published_dir"], region, model_type, work)
    return screen_and_retune(
        chunks, cells_of.x, cells_of.y, cells_of.flags, cells_of.ds["cell"].values, hp, model_type,
        threshold=training["pcc_threshold"], published_lr=published_lr, lr_trials=settings["lr_trials"],
        study_path=Path(study_path), study_name=f"{region}-study_LR_OPTUNA_{model_type}", seed=training["seed"],
        fits=training["fits"], settings=TrainSettings.from_params(training),
        tune_settings=TrainSettings.from_params(training, tuning=settings),
        include_current=training["include_current_month"], device=str(resolve_device(device_name, log)),
        lr_cells=settings["cells"], lr_trials_at_once=settings["lr_trials_at_once"], combine=training["combine_fits"],
        trend=training["trend"], start=training["start"])
