"""The published GR*Ai*CE studies are read right (checked against their raw tables) and never modified."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
from pathlib import Path

import optuna
import pytest
from conftest import FIXTURES, SHARED_DATA, sha256
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from twsrecon.errors import InputError
from twsrecon.reconstruction.hyperparameters import (Hyperparameters, MissingStudyError, open_published_study,
                                                     published_study_name, published_study_path, read_published,
                                                     read_published_lr)
from twsrecon.regions.classes import PUBLISHED_MODEL_TYPES, REGIONS

DATA = SHARED_DATA / "graice-hyperparameters"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"published GR*Ai*CE studies not found at {DATA} (present in CI, not in a user's clone)")


def raw_best(path: Path, workdir: Path) -> tuple[str, int, float, dict[str, float]]:
    """Study name and best COMPLETE trial (number, value, params) of a copy of `path`, by raw SQL only."""
    workdir.mkdir(exist_ok=True)
    copy = shutil.copy(path, workdir / path.name)
    con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        # One study, one objective in each file: the unpacking fails otherwise.
        [(study_id, name, direction)] = con.execute(
            "SELECT s.study_id, s.study_name, d.direction FROM studies s JOIN study_directions d USING (study_id)"
        ).fetchall()
        order = {"MINIMIZE": "ASC", "MAXIMIZE": "DESC"}[direction]
        trial_id, number, value = con.execute(
            "SELECT t.trial_id, t.number, v.value FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
            f"WHERE t.study_id = ? AND t.state = 'COMPLETE' ORDER BY v.value {order}, t.number LIMIT 1",
            (study_id,),
        ).fetchone()
        params = dict(con.execute("SELECT param_name, param_value FROM trial_params WHERE trial_id = ?", (trial_id,)))
    finally:
        con.close()
    return name, number, value, params


@pytest.mark.integration  # all 202 files, ~40 s; the reader's unit test runs on tests/data
@needs_data
def test_every_published_study_matches_its_tables(tmp_path):
    originals = sorted(DATA.rglob("*.db"))
    listing = sorted(DATA.rglob("*"))
    before = {p: (sha256(p), p.stat().st_mtime_ns) for p in originals}
    work, raw = tmp_path / "work", tmp_path / "raw"
    seen_main, seen_lr = set(), set()

    for model_type in PUBLISHED_MODEL_TYPES:
        for region in REGIONS:
            path = published_study_path(DATA, region, model_type)
            hp = read_published(DATA, region, model_type, work)
            name, number, value, params = raw_best(path, raw)
            assert name == published_study_name(region, model_type)
            expected = {k: v if k == "learning_rate" else int(v) for k, v in params.items()}
            got = hp.to_optuna_params()
            assert got == expected, path
            assert all(type(v) is int for k, v in got.items() if k != "learning_rate"), path
            assert hp.source == f"published study {path}, trial {number}, value {value!r}"
            seen_main.add(path)

            lr_path = published_study_path(DATA, region, model_type, lr=True)
            lr = read_published_lr(DATA, region, model_type, work)
            if lr_path.exists():
                name, _, _, params = raw_best(lr_path, raw)
                assert name == published_study_name(region, model_type, lr=True)
                assert params == {"learning_rate": lr}, lr_path
                seen_lr.add(lr_path)
            else:
                assert lr is None

    assert (len(seen_main), len(seen_lr)) == (112, 90)
    assert seen_main | seen_lr == set(originals)  # every file went through both readers' checks
    assert sorted(DATA.rglob("*")) == listing  # no journal or copy left next to the originals
    assert {p: (sha256(p), p.stat().st_mtime_ns) for p in originals} == before


@pytest.fixture
def synthetic_study(tmp_path):
    """A maximised study laid out like the authors', whose better values sit in trials that must not count."""
    path = published_study_path(tmp_path / "studies", "polar_frost", "BiLSTMnoSIF")
    path.parent.mkdir(parents=True)
    study = optuna.create_study(storage=f"sqlite:///{path}", direction="maximize",
                                study_name=published_study_name("polar_frost", "BiLSTMnoSIF"))
    dist = {"units": IntDistribution(10, 100), "window": IntDistribution(3, 24, step=3),
            "learning_rate": FloatDistribution(1e-5, 0.1, log=True), "n_layers": IntDistribution(1, 2),
            "n_units_l0": IntDistribution(1, 100), "n_units_l1": IntDistribution(1, 100)}
    best = {"units": 40, "window": 9, "learning_rate": 1e-3, "n_layers": 2, "n_units_l0": 7, "n_units_l1": 3}
    one_layer = {"units": 20, "window": 6, "learning_rate": 1e-2, "n_layers": 1, "n_units_l0": 5}
    dist1 = {k: dist[k] for k in one_layer}
    study.add_trial(create_trial(params=one_layer, distributions=dist1, value=1.0))
    study.add_trial(create_trial(params=best, distributions=dist, value=3.0))
    study.add_trial(create_trial(params=one_layer, distributions=dist1, value=9.0, state=TrialState.PRUNED))
    study.add_trial(create_trial(params=one_layer, distributions=dist1, state=TrialState.FAIL))
    study.ask(dist1)  # left RUNNING, as in many of the authors' files
    return tmp_path / "studies", path, best


def test_best_complete_trial_by_the_studys_direction(synthetic_study, tmp_path):
    directory, path, best = synthetic_study
    hp = read_published(directory, "polar_frost", "BiLSTMnoSIF", tmp_path / "work")
    assert hp.to_optuna_params() == best
    assert hp.source == f"published study {path}, trial 1, value 3.0"


def test_missing_study_names_region_model_type_and_path(tmp_path):
    with pytest.raises(MissingStudyError) as err:
        read_published(tmp_path, "polar_frost", "BiLSTMnoSIF", tmp_path / "work")
    expected = tmp_path / "BiLSTMnoSIF" / "polar_frost_OPTUNA_BiLSTMnoSIF.db"
    assert err.value.path == expected
    for part in ("'polar_frost'", "'BiLSTMnoSIF'", str(expected)):
        assert part in str(err.value)
    assert isinstance(err.value, FileNotFoundError)

    # No re-tuning for a region is normal; no newLR folder at all means a wrong directory.
    (tmp_path / "LSTM" / "newLR").mkdir(parents=True)
    assert read_published_lr(tmp_path, "polar_frost", "LSTM", tmp_path / "work") is None
    with pytest.raises(MissingStudyError, match="'BiLSTM'.*newLR"):
        read_published_lr(tmp_path, "polar_frost", "BiLSTM", tmp_path / "work")


def test_unknown_region_or_model_type():
    with pytest.raises(KeyError, match="polar_ice"):
        published_study_path("x", "polar_ice", "LSTM")
    with pytest.raises(ValueError, match="GRU"):
        published_study_path("x", "polar_frost", "GRU")


def test_not_a_study_or_wrong_name_names_the_file(synthetic_study, tmp_path):
    _, path, _ = synthetic_study
    wrong_name = f"{re.escape(str(path))}.*no Optuna study named 'other'.*polar_frost-study_OPTUNA_BiLSTMnoLCSIF"
    with pytest.raises(InputError, match=wrong_name):
        open_published_study(path, "other", tmp_path / "work")
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    with pytest.raises(InputError, match=f"{re.escape(str(text))}.*not an Optuna study database"):
        open_published_study(text, "any", tmp_path / "work")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(InputError, match=f"{re.escape(str(empty))}.*not an Optuna study database"):
        open_published_study(empty, "any", tmp_path / "work")


@pytest.mark.parametrize("data", [FIXTURES / "graice-hyperparameters", pytest.param(DATA, marks=needs_data)],
                         ids=["fixtures", "shared"])
def test_upgrade_leaves_logging_alone(tmp_path, data):
    """Optuna's alembic setup would otherwise disable every existing logger when the root has no handler."""
    logger = logging.getLogger("twsrecon.test_hyperparameters")
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # in place: pytest removes its own capture handler from this same list
    try:
        read_published(data, "polar_frost", "LSTM", tmp_path)
        assert not logger.disabled
        assert root.handlers == []
    finally:
        root.handlers[:] = saved


@pytest.mark.parametrize("n_units", [(50,), (89, 32)])
def test_round_trips(n_units):
    hp = Hyperparameters(units=35, window=12, learning_rate=0.00026858005047364234, n_layers=len(n_units),
                         n_units=n_units, source="test")
    assert Hyperparameters.from_dict(json.loads(json.dumps(hp.to_dict()))) == hp
    params = hp.to_optuna_params()
    assert params == {"units": 35, "window": 12, "learning_rate": 0.00026858005047364234, "n_layers": len(n_units),
                      **{f"n_units_l{i}": n for i, n in enumerate(n_units)}}
    assert Hyperparameters.from_optuna_params(params, "test") == hp
    # Values as a raw database stores them (REAL) come back as ints.
    from_floats = Hyperparameters.from_optuna_params({k: float(v) for k, v in params.items()}, "test")
    assert from_floats == hp and type(from_floats.units) is int and type(from_floats.n_units[0]) is int


def test_params_outside_the_search_space_are_refused():
    # As in the authors' failed trial 85 (BiLSTMnoSIF, tropical_monsoon): n_layers = 1 but no n_units_l0.
    with pytest.raises(ValueError, match="trial 85.*not the GR.Ai.CE ones"):
        Hyperparameters.from_optuna_params({"units": 83, "window": 21, "learning_rate": 3e-4, "n_layers": 1},
                                           "trial 85")
    with pytest.raises(ValueError, match="window = 7.5 is not an integer"):
        Hyperparameters.from_optuna_params({"units": 8, "window": 7.5, "learning_rate": 3e-4, "n_layers": 1,
                                            "n_units_l0": 4}, "test")
    with pytest.raises(ValueError, match="n_layers = 2 but 1 dense"):
        Hyperparameters(units=8, window=3, learning_rate=1e-3, n_layers=2, n_units=(4,), source="test")


@pytest.mark.integration
def test_dry_run_counts_the_fallback_tuning_jobs(tmp_path):
    """With missing published studies and fallback_to_tune, the plan says once how much tuning that adds."""
    from conftest import TINY_DEMO, run_snakemake

    studies = tmp_path / "studies"
    present = published_study_path(studies, "polar_frost", "LSTM")
    present.parent.mkdir(parents=True)
    present.touch()  # the plan only looks for the file
    config = {**TINY_DEMO, "hyperparameters": {**TINY_DEMO["hyperparameters"], "source": "published",
                                               "published_dir": str(studies), "fallback_to_tune": True}}
    proc = run_snakemake(tmp_path / "work", "-n", "--until", "hyperparameters", config=config)
    out = proc.stdout + proc.stderr
    total = len(REGIONS) * 4
    assert out.count("WARNING hyperparameters: no published Optuna study") == 1, out[-3000:]
    assert (f"for {total - 1} of {total} region x model type pairs in {studies}" in out
            and f"{total - 1} tuning jobs, {(total - 1) * 2} Optuna trials" in out), out[-3000:]
