import numpy as np
import pandas as pd
import pytest

from twsrecon.periods import TEST, TRAIN, VAL
from twsrecon.reconstruction.features import RobustScaler, chunked_split, draw_split, holdout_months, reference, windows


def test_windows_exclude_or_include_the_target_month():
    x = np.arange(10, dtype=float)[:, None] * np.array([1.0, 10.0])  # (time, features)
    w = windows(x, 3, include_current=False)
    assert w.shape == (10, 3, 2)
    np.testing.assert_array_equal(w[5, :, 0], [2, 3, 4])  # t-3..t-1
    assert np.isnan(w[2]).any() and np.isfinite(w[3]).all()
    w = windows(x, 3, include_current=True)
    np.testing.assert_array_equal(w[5, :, 1], [30, 40, 50])  # t-2..t
    assert np.isnan(w[1]).any() and np.isfinite(w[2]).all()


@pytest.fixture(scope="module")
def grace_mask(demo_world):
    """The GRACE months of the demo mascon file (the real missing months and the mission gap) on the
    cube's 1982-2021 axis, read with the workflow's own mascon reader."""
    from twsrecon.data.io.grace import read_mascon
    from twsrecon.data.timeaxis import months

    _, paths = demo_world
    _, _, report = read_mascon(paths["grace"])
    time = months("1982-01", "2021-12")
    mask = time.isin(pd.DatetimeIndex(report.months))
    assert 190 < mask.sum() < 220 and not mask[time.get_loc(pd.Timestamp("2018-01-01"))]
    return time, mask


def chunks_of(available, chunk_months):
    idx = np.flatnonzero(available)
    return [idx[i:i + chunk_months] for i in range(0, idx.size, chunk_months)]


def test_split_of_the_real_grace_months_is_one_per_cell_whatever_the_window(grace_mask):
    from twsrecon.reconstruction.fitting import prepare

    time, mask = grace_mask
    twsa = np.where(mask, 1.0, np.nan)[None].repeat(3, 0) * np.arange(1, 4)[:, None]
    flags = draw_split(twsa, chunk_months=25, seed=42, history=24)
    assert (flags[:, ~mask] == 0).all() and (flags[:, mask] > 0).all()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, len(time), 2))
    for window in range(3, 25, 3):
        prep = prepare(x, twsa, window, flags)
        np.testing.assert_array_equal(prep.flags, flags)  # never redrawn from the window
        for f in (TRAIN, VAL, TEST):  # every flagged month is a usable sample of its set at any window
            np.testing.assert_array_equal(prep.mask(f), flags == f)
    n = mask.sum()
    for row in flags:
        counts = np.bincount(row, minlength=4)[1:]
        np.testing.assert_array_less(np.abs(counts - np.array([0.6, 0.2, 0.2]) * n), 25 + 1e-9)
        # whole chunks of the list of GRACE months: one set per chunk, so no target sits in two sets
        for chunk in chunks_of(mask, 25):
            assert len(np.unique(row[chunk])) == 1
    np.testing.assert_array_equal(flags, draw_split(twsa, 25, 42, history=24))  # same seed, same split
    assert not np.array_equal(flags, draw_split(twsa, 25, 43, history=24))


@pytest.mark.parametrize("chunk_months", [7, 13, 25])
def test_split_deals_months_not_chunks(chunk_months):
    available = np.ones(240, bool)
    available[[50, 51, 120]] = False
    available[170:181] = False  # a gap: chunks run across it along the list of available months
    flags = chunked_split(available, chunk_months, seed=42)
    assert (flags[~available] == 0).all()
    share = np.bincount(flags[available], minlength=4)[1:]
    assert (np.abs(share - np.array([0.6, 0.2, 0.2]) * available.sum()) <= chunk_months).all()
    assert all(len(np.unique(flags[c])) == 1 for c in chunks_of(available, chunk_months))


def test_holdout_block_is_test_for_every_cell_and_the_rest_is_dealt():
    from twsrecon.data.timeaxis import months

    time = months("2000-01", "2021-12")
    twsa = np.where(time >= pd.Timestamp("2002-04-01"), 1.0, np.nan)[None].repeat(4, 0)
    twsa[1, 100:110] = np.nan
    held = holdout_months(time, "2002-04/2004-12")
    assert held.sum() == 33
    flags = draw_split(twsa, 25, seed=1, holdout=held)
    assert (flags[:, held] == TEST).all()
    rest = np.isfinite(twsa) & ~held
    for row, ok in zip(flags, rest):
        counts = np.bincount(row[ok], minlength=4)[1:]
        assert (np.abs(counts - np.array([0.6, 0.2, 0.2]) * ok.sum()) <= 25).all()
    with pytest.raises(ValueError, match="ends before it starts"):
        holdout_months(time, "2004-12/2002-04")


def test_robust_scaler_round_trip_and_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (4, 200, 2))
    sc = RobustScaler.fit(x, axis=1)
    assert sc.center.shape == (4, 1, 2)
    z = sc.transform(x)
    np.testing.assert_allclose(np.median(z, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(sc.inverse(z), x)
    const = RobustScaler.fit(np.ones((10, 1)), axis=0)
    assert const.scale.ravel()[0] == 1.0
    twsa = np.array([[np.nan, 2.0, 3.0], [5.0, np.nan, 1.0]])
    np.testing.assert_array_equal(reference(twsa), [2.0, 5.0])


def test_split_of_fewer_months_than_a_chunk():
    available = np.zeros(100, bool)
    available[10:14] = True
    flags = chunked_split(available, 25, 1)
    assert len(np.unique(flags[available])) == 1  # one chunk


def test_prepare_scaling_and_rereferencing_round_trip():
    from twsrecon.reconstruction.fitting import prepare

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 120, 4)) * [1, 10, 100, 1000]
    twsa = rng.normal(size=(3, 120)).cumsum(1) + 50
    twsa[:, :30] = np.nan
    flags = draw_split(twsa, 25, seed=42)
    prep = prepare(x, twsa, 6, flags)
    np.testing.assert_allclose(prep.offset, twsa[:, 30])
    back = prep.y_scaler.inverse(prep.y.astype(float)) + prep.offset[:, None]
    np.testing.assert_allclose(back, twsa, rtol=1e-5, equal_nan=True)
    train = prep.flags == TRAIN
    # Scalers are fit on the training part only: its windows have median 0 per feature.
    med = np.nanmedian(np.where(train[..., None, None], prep.x, np.nan).reshape(3, -1, 4), axis=1)
    np.testing.assert_allclose(med, 0, atol=1e-5)
    np.testing.assert_array_equal(prep.flags, flags)  # the stored flags, never redrawn
